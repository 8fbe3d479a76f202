import { Metadata, status } from "@grpc/grpc-js";
import { type DomainErrorCode, isDomainError } from "@heidrun/core";
import { Any, BadRequest, RpcStatus } from "@heidrun/proto";

/** DomainError codes are named after the gRPC statuses they become. */
export const GRPC_STATUS_BY_CODE: Readonly<Record<DomainErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  UNAVAILABLE: status.UNAVAILABLE,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  INTERNAL: status.INTERNAL,
};

export const STATUS_DETAILS_KEY = "grpc-status-details-bin";
export const BAD_REQUEST_TYPE_URL = "type.googleapis.com/google.rpc.BadRequest";

/** What the caller receives; `cause` is what we log when the caller must not see it. */
export interface CallFailure {
  code: status;
  details: string;
  metadata: Metadata;
  /** Set when the error was unexpected: log it with its stack. */
  unexpected?: unknown;
}

// Connection-level failures of Postgres or Redis that a handler let through: the contract promises
// UNAVAILABLE (retry with the same request_id) for these, not INTERNAL.
const UNAVAILABLE_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EAI_AGAIN",
]);
// 40001/40P01: the transaction was rolled back whole (serialization failure, deadlock victim): safe to retry.
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300", "40001", "40P01"]);
// "not queryable": drizzle's ROLLBACK on a client whose connection died replaces the original error with this.
const UNAVAILABLE_MESSAGES =
  /Connection terminated|Connection is closed|timeout exceeded when trying to connect|Stream isn't writeable|not queryable/;

export function isStorageUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 3 || typeof error !== "object" || error === null) return false;
  const { code, name, message, cause } = error as {
    code?: unknown;
    name?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  if (typeof code === "string" && (UNAVAILABLE_ERRNOS.has(code) || UNAVAILABLE_SQLSTATES.has(code)))
    return true;
  if (typeof code === "string" && /^08[0-9A-Z]{3}$/.test(code)) return true;
  if (name === "MaxRetriesPerRequestError") return true;
  if (typeof message === "string" && UNAVAILABLE_MESSAGES.test(message)) return true;
  if (
    error instanceof AggregateError &&
    error.errors.some((inner) => isStorageUnavailable(inner, depth + 1))
  ) {
    return true;
  }
  return isStorageUnavailable(cause, depth + 1);
}

/** google.rpc.Status carrying one BadRequest field violation, as `grpc-status-details-bin` holds it. */
export function badRequestDetails(code: status, message: string, field: string, description: string): Buffer {
  const badRequest = Buffer.from(BadRequest.encode({ fieldViolations: [{ field, description }] }).finish());
  const details = Any.fromPartial({ typeUrl: BAD_REQUEST_TYPE_URL, value: badRequest });
  return Buffer.from(RpcStatus.encode({ code, message, details: [details] }).finish());
}

/**
 * Turns whatever a handler threw into the status the caller sees. Only DomainError text crosses the edge;
 * everything else is INTERNAL with a correlation id to find the logged stack.
 */
export function toCallFailure(error: unknown, correlationId: string): CallFailure {
  const metadata = new Metadata();
  if (isDomainError(error)) {
    const code = GRPC_STATUS_BY_CODE[error.code];
    if (error.code === "INVALID_ARGUMENT" && error.field !== undefined) {
      const prefix = `${error.field}: `;
      const description = error.message.startsWith(prefix)
        ? error.message.slice(prefix.length)
        : error.message;
      metadata.set(STATUS_DETAILS_KEY, badRequestDetails(code, error.message, error.field, description));
    }
    return { code, details: error.message, metadata };
  }
  if (isStorageUnavailable(error)) {
    return {
      code: status.UNAVAILABLE,
      details: `storage unavailable, retry with the same request_id (request_id=${correlationId})`,
      metadata,
      unexpected: error,
    };
  }
  return {
    code: status.INTERNAL,
    details: `internal error (request_id=${correlationId})`,
    metadata,
    unexpected: error,
  };
}
