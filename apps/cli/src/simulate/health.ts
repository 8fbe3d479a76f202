import { credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

interface HealthClient {
  Check(
    request: { service: string },
    options: { deadline: Date },
    callback: (error: Error | null, response?: { status: string | number }) => void,
  ): void;
  close(): void;
}

const HealthClientConstructor = makeGenericClientConstructor(healthService, "Health");

/** One grpc.health.v1 Check of the whole server (""): its status name, or the error it failed with. */
export function checkHealth(target: string, timeoutMs = 1000): Promise<string> {
  const client = new HealthClientConstructor(target, credentials.createInsecure()) as unknown as HealthClient;
  return new Promise<string>((resolve) => {
    client.Check({ service: "" }, { deadline: new Date(Date.now() + timeoutMs) }, (error, response) => {
      resolve(error ? `error: ${error.message}` : String(response?.status));
    });
  }).finally(() => client.close());
}

/**
 * Polls the health service until it reports SERVING. Resolves "SERVING", "timeout", or "aborted" when
 * `abort` settles first (the fleet exited, the user pressed Ctrl-C).
 */
export async function waitForServing(
  target: string,
  options: { timeoutMs: number; abort?: Promise<unknown>; pollMs?: number },
): Promise<"SERVING" | "timeout" | "aborted"> {
  let aborted = false;
  options.abort?.then(
    () => {
      aborted = true;
    },
    () => {
      aborted = true;
    },
  );
  const deadline = Date.now() + options.timeoutMs;
  while (!aborted && Date.now() < deadline) {
    if ((await checkHealth(target)) === "SERVING") return "SERVING";
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
  }
  return aborted ? "aborted" : "timeout";
}
