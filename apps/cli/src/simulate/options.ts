import { randomInt } from "node:crypto";
import { parseArgs } from "node:util";
import type { Config } from "@heidrun/config";

export interface SimulateOptions {
  target: string;
  key: string | undefined;
  /** Calls per second across all workers; 0: as fast as the concurrency allows. */
  rate: number;
  /** Stop starting new flows after this long (ignored when `count` is set). */
  durationMs: number;
  count: number | undefined;
  concurrency: number;
  seed: number;
  runId: string;
  accounts: number;
  quiet: boolean;
  dryRun: boolean;
  settleTimeoutMs: number;
  roundingIncrementMicros: bigint;
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const SIMULATE_USAGE = `usage: heidrun simulate [options]

Drives the gRPC ingress the way Yggdrasil does, then checks its own books against Heidrun's.

  --rate N              calls per second, 0 for no limit (default 50)
  --duration T          how long to run: 90, 90s, 2m (default 60s; ignored with --count)
  --count N             make N calls, then stop
  --concurrency N       flows in flight at once (default 8)
  --seed N              the same seed makes the same calls (default: random, printed)
  --run-id ID           part of every account and request id (default: from the seed)
  --accounts N          simulated consumer accounts (default 10)
  --target HOST:PORT    the ingress (default: HEIDRUN_GRPC_ADDR)
  --key KEY             API key sent as a bearer token (default: none)
  --settle-timeout T    how long to wait for settlements before checking (default 60s)
  --rounding-increment M  Heidrun's roundingIncrementMicros (default: from the settings)
  --dry-run             print the planned flows as JSON lines and call nothing
  --quiet               no live line; only the verdict and differences
`;

function positiveInt(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new UsageError(`--${name} must be a whole number ≥ ${min}, got '${raw}'`);
  }
  return Number(raw);
}

/** "90", "90s", "2m", "1500ms" → milliseconds. */
export function parseDuration(name: string, raw: string | undefined, fallbackMs: number): number {
  if (raw === undefined) return fallbackMs;
  const match = /^(\d+)(ms|s|m|h)?$/.exec(raw.trim());
  if (!match) throw new UsageError(`--${name} must be a duration such as 90, 90s or 2m, got '${raw}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"] ?? 1000;
  return Number(match[1]) * unit;
}

/** The address a client dials for a listen address: a wildcard host means this machine. */
export function dialAddress(listen: string): string {
  return listen.replace(/^(0\.0\.0\.0|\[::\]|::):/, "127.0.0.1:");
}

const RUN_ID = /^[A-Za-z0-9._-]{1,40}$/;

export function parseSimulateArgs(argv: string[], config: Config): SimulateOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        rate: { type: "string" },
        duration: { type: "string" },
        count: { type: "string" },
        concurrency: { type: "string" },
        seed: { type: "string" },
        "run-id": { type: "string" },
        accounts: { type: "string" },
        target: { type: "string" },
        key: { type: "string" },
        "settle-timeout": { type: "string" },
        "rounding-increment": { type: "string" },
        "dry-run": { type: "boolean" },
        quiet: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const text = (name: string) => values[name] as string | undefined;
  const seed = positiveInt("seed", text("seed"), randomInt(0, 2 ** 32 - 1), 0);
  if (seed > 0xffffffff) throw new UsageError("--seed must be below 2^32");
  const runId = text("run-id") ?? `s${seed.toString(36)}`;
  if (!RUN_ID.test(runId)) throw new UsageError("--run-id must be 1–40 characters of A-Z a-z 0-9 . _ -");
  const increment = text("rounding-increment");
  if (increment !== undefined && !/^[1-9]\d{0,18}$/.test(increment)) {
    throw new UsageError("--rounding-increment must be a whole number of micros ≥ 1");
  }
  return {
    target: text("target") ?? dialAddress(config.grpcAddr),
    key: text("key"),
    rate: positiveInt("rate", text("rate"), 50, 0),
    durationMs: parseDuration("duration", text("duration"), 60_000),
    count: text("count") === undefined ? undefined : positiveInt("count", text("count"), 0),
    concurrency: positiveInt("concurrency", text("concurrency"), 8),
    seed,
    runId,
    accounts: positiveInt("accounts", text("accounts"), 10),
    quiet: values.quiet === true,
    dryRun: values["dry-run"] === true,
    settleTimeoutMs: parseDuration("settle-timeout", text("settle-timeout"), 60_000),
    roundingIncrementMicros:
      increment === undefined ? config.settings.roundingIncrementMicros : BigInt(increment),
  };
}
