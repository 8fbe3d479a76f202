import { DomainError } from "@heidrun/core";

/** A listener as an operator names it: what it is, where it binds, and the setting that moves it. */
export interface ListenerName {
  /** "gRPC ingress", "ingress metrics", "dashboard", … */
  what: string;
  /** host:port as configured. */
  address: string;
  /** The variable or setting that moves it, e.g. "HEIDRUN_GRPC_ADDR". */
  movedBy: string;
}

const REASONS: Record<string, string> = {
  EADDRINUSE: "is already in use",
  EACCES: "may not be bound by this user (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "is not an address of this host",
};

/**
 * Turns a failed bind into one line an operator can act on (which address, why, what moves it), as a
 * non-retryable UNAVAILABLE. grpc-js folds the system error into its message, so the code is looked for
 * there too. Any other error is returned as it was.
 */
export function listenFailure(error: unknown, listener: ListenerName): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  const message = String((error as { message?: unknown } | null)?.message ?? error);
  const found = Object.keys(REASONS).find((name) => code === name || message.includes(name));
  if (found === undefined) return error;
  return new DomainError(
    "UNAVAILABLE",
    `${listener.address} (${listener.what}) ${REASONS[found]}: set ${listener.movedBy} to move it`,
    { retryable: false, cause: error },
  );
}
