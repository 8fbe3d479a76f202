/**
 * An open-loop CalculatePricing load generator in a process of its own. Options (argv JSON): {port, apiKey?}.
 * Sends `{type: "ready"}` once connected; on `{type: "run", rate, seconds}` it starts calls on a fixed
 * schedule (rate per second, whatever the answers do) and replies `{type: "done", calls, shed, errors,
 * firstError, p50Ms, p99Ms, maxMs, seconds, cpuMicros}`: latency from starting a call to its answer, and the
 * CPU this process used meanwhile (the load's own cost on a shared machine). While `rate` calls (a second's worth)
 * wait for answers, due calls are not sent but counted as `shed`, so a starved server shows as a lower rate
 * instead of a backlog that takes minutes to drain.
 */
import { fileURLToPath } from "node:url";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { type CalculatePricingRequest, PricingServiceClient } from "@heidrun/proto";
import { childOptions, onParentMessage, sendToParent } from "./ipc";
import { percentile, round } from "./stats";

export const GRPC_LOAD = fileURLToPath(import.meta.url);

export interface LoadRunResult {
  type: "done";
  calls: number;
  /** Calls not sent because `rate` calls were already waiting for answers. */
  shed: number;
  errors: number;
  firstError: string | null;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  seconds: number;
  cpuMicros: number;
}

/** The usage api.md's worked example prices: every field of the quote is non-zero. */
const USAGE = {
  inputTokens: 123_457n,
  outputTokens: 7_891n,
  cachedInputTokens: 100_000n,
  cacheWriteTokens: 0n,
};

function request(n: number): CalculatePricingRequest {
  return {
    requestId: `bench-q-${n}`,
    providerId: "openai",
    model: "gpt-4o",
    usage: USAGE,
    at: new Date("2025-02-01T00:00:00.000Z"),
  };
}

async function main(): Promise<void> {
  const options = childOptions<{ port: number; apiKey?: string }>();
  const client = new PricingServiceClient(`127.0.0.1:${options.port}`, credentials.createInsecure());
  const metadata = new Metadata();
  if (options.apiKey) metadata.set("authorization", `Bearer ${options.apiKey}`);
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())),
  );
  let counter = 0;

  const run = (rate: number, seconds: number) =>
    new Promise<LoadRunResult>((resolve) => {
      const total = Math.round(rate * seconds);
      const latencies = new Float64Array(total);
      let sent = 0;
      let answered = 0;
      let shed = 0;
      let errors = 0;
      let firstError: string | null = null;
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      const finish = () => {
        const cpu = process.cpuUsage(cpuStart);
        const sorted = latencies.slice(0, answered).sort();
        resolve({
          type: "done",
          calls: answered,
          shed,
          errors,
          firstError,
          p50Ms: round(percentile(sorted, 0.5)),
          p99Ms: round(percentile(sorted, 0.99)),
          maxMs: round(sorted[sorted.length - 1] ?? 0),
          seconds: (performance.now() - start) / 1000,
          cpuMicros: cpu.user + cpu.system,
        });
      };
      const fire = () => {
        const began = performance.now();
        client.calculatePricing(request(counter++), metadata, (error: ServiceError | null) => {
          latencies[answered] = performance.now() - began;
          if (error) {
            errors++;
            firstError ??= `${error.code} ${error.details}`;
          }
          answered++;
          if (answered + shed === total) finish();
        });
      };
      // Calls due by now go out now: a late timer sends a small burst instead of lowering the rate.
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
        while (sent < due) {
          if (sent - shed - answered >= rate) shed++;
          else fire();
          sent++;
        }
        if (sent < total) setTimeout(tick, 1);
        else if (answered + shed === total) finish();
      };
      tick();
    });

  onParentMessage(async (message) => {
    if (message.type === "run")
      sendToParent({ ...(await run(Number(message.rate), Number(message.seconds))) });
    if (message.type === "stop") {
      client.close();
      process.exit(0);
    }
  });
  sendToParent({ type: "ready" });
}

if (process.argv[1] === GRPC_LOAD) {
  main().catch((error: unknown) => {
    process.stderr.write(`grpc load: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
