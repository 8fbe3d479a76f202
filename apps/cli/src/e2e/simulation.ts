import type { SimulateOptions } from "../simulate/options";

/** Simulator options for an e2e run against `target`: 300 calls as fast as they go, quiet, a fixed seed. */
export function simulateOptions(
  target: string,
  key: string,
  overrides: Partial<SimulateOptions>,
): SimulateOptions {
  return {
    target,
    key,
    rate: 0,
    durationMs: 60_000,
    count: 300,
    concurrency: 8,
    seed: 20_260_101,
    runId: "e2e",
    accounts: 6,
    quiet: true,
    dryRun: false,
    settleTimeoutMs: 30_000,
    roundingIncrementMicros: 1n,
    ...overrides,
  };
}

/** A stdout that keeps what the simulator prints. */
export function sink(): { stdout: NodeJS.WritableStream; text: () => string } {
  let text = "";
  const stdout = {
    write(chunk: string) {
      text += chunk;
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { stdout, text: () => text };
}
