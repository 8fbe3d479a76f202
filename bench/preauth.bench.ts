/**
 * PreAuthorize throughput and p99 at 32 calls in flight, over 1,000 funded accounts:
 *   - heidrun: `authorizeHold`, the db function the PreAuthService handler calls (conditional hold, pre-auth
 *     row, audit record; concurrent calls share transactions);
 *   - baseline: a raw `pg` loop running the same conditional `UPDATE accounts … WHERE balance + credit_limit −
 *     held ≥ amount` alone, autocommit, with the same number in flight and the same pool size;
 *   - grpc (reported, not judged): the whole ingress in a process of its own, the grpc-js client in this one.
 *
 *   npx tsx bench/preauth.bench.ts [--quick]
 *
 * Prints one JSON line ({path, heidrun, baseline, ratio, unit, goal, pass, ...}) and one readable line.
 * Needs PostgreSQL and Redis (as the tests do); works in a database of its own that it drops afterwards.
 */
import { pathToFileURL } from "node:url";
import { credentials } from "@grpc/grpc-js";
import {
  type AuthorizeHoldInput,
  authorizeHold,
  createDb,
  createPool,
  HOLD_BATCHING,
  hashedFingerprint,
  setPrice,
} from "@heidrun/db";
import { type PreAuthorizeRequest, type PreAuthorizeResponse, PreAuthServiceClient } from "@heidrun/proto";
import { createTestContext, type TestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import type pg from "pg";
import { GRPC_SERVER, type GrpcServerOptions } from "./lib/grpc-server";
import { type Message, TsChild } from "./lib/ipc";

export interface PreauthBenchResult {
  path: string;
  /** Holds per second through authorizeHold. */
  heidrun: number;
  /** Conditional UPDATEs per second through raw pg. */
  baseline: number;
  ratio: number;
  unit: string;
  /** What passes, in words: GOAL_PER_SECOND, MIN_RATIO and P99_GOAL_MS together. */
  goal: string;
  minRatio: number;
  pass: boolean;
  heidrunP99Ms: number;
  baselineP99Ms: number;
  grpc: { perSecond: number; p99Ms: number } | { skipped: string };
  inFlight: number;
  poolSize: number;
  seconds: number;
  batching: typeof HOLD_BATCHING;
}

const IN_FLIGHT = 32;
const POOL_SIZE = 20;
const ACCOUNTS = 1_000;
const GOAL_PER_SECOND = 2_000;
const MIN_RATIO = 0.5;
const P99_GOAL_MS = 20;
/** 1,000 input + 500 output tokens at $0.15 / $0.60 per Mtok. */
const ESTIMATE = 450n;

interface Measured {
  perSecond: number;
  p99Ms: number;
}

/** Runs `call` from IN_FLIGHT loops for `seconds`; throughput and p99 latency of the calls. */
async function measure(seconds: number, call: (n: number) => Promise<unknown>): Promise<Measured> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      const began = performance.now();
      await call(next++);
      latencies.push(performance.now() - began);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
  const elapsed = performance.now() - start;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0;
  return { perSecond: Math.round((latencies.length * 1000) / elapsed), p99Ms: Math.round(p99 * 100) / 100 };
}

const accountOf = (n: number) => `acct-${(n * 7919) % ACCOUNTS}`;

async function seed(context: TestContext): Promise<void> {
  // Funds for far more holds than any run makes: nothing is declined, so both paths do the same work.
  await context.db.execute(sql`
    INSERT INTO accounts (account_id, balance_micros)
    SELECT 'acct-' || i, 1000000000000 FROM generate_series(0, ${ACCOUNTS - 1}::int) AS i`);
  await setPrice(
    context.db,
    {
      providerId: "openai",
      model: "gpt-4o-mini",
      inputMicrosPerMtok: 150_000n,
      outputMicrosPerMtok: 600_000n,
      effectiveFrom: new Date("2025-01-01T00:00:00Z"),
    },
    { requestId: "bench-price", actor: "bench" },
  );
}

function holdInput(prefix: string, n: number): AuthorizeHoldInput {
  const requestId = `${prefix}-${n}`;
  const accountId = accountOf(n);
  return {
    requestId,
    // What the handler fingerprints, so the hashing cost is in the figure too.
    fingerprint: hashedFingerprint({ accountId, providerId: "openai", model: "gpt-4o-mini", requestId }),
    accountId,
    providerId: "openai",
    model: "gpt-4o-mini",
    estimatedCostMicros: ESTIMATE,
    estimatedInputTokens: 1_000n,
    maxOutputTokens: 500n,
    priceVersion: 1n,
    priceVersionId: 1n,
    ttlSeconds: 900,
    actor: "bench",
  };
}

function rawHold(pool: pg.Pool, n: number) {
  return pool.query({
    name: "bench-hold",
    text: `UPDATE accounts SET held_micros = held_micros + $1, updated_at = now()
           WHERE account_id = $2 AND balance_micros + credit_limit_micros - held_micros >= $1
           RETURNING balance_micros + credit_limit_micros - held_micros AS available`,
    values: [ESTIMATE, accountOf(n)],
  });
}

/** PreAuthorize through the real ingress in a process of its own (bench/lib/grpc-server.ts); the client stays here. */
async function throughGrpc(context: TestContext, seconds: number, warmUp: number): Promise<Measured> {
  const server = new TsChild(GRPC_SERVER, {
    mode: "heidrun",
    databaseUrl: context.databaseUrl,
    redisUrl: context.redisUrl,
    prefix: context.redisPrefix,
    logLevel: "silent",
  } satisfies GrpcServerOptions);
  let client: PreAuthServiceClient | undefined;
  try {
    const { port } = await server.next<Message & { port: number }>("listening");
    const connected = new PreAuthServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
    client = connected;
    const preAuthorize = (request: PreAuthorizeRequest) =>
      new Promise<PreAuthorizeResponse>((resolve, reject) =>
        connected.preAuthorize(request, (error, response) => (error ? reject(error) : resolve(response))),
      );
    const request = (prefix: string) => (n: number) =>
      preAuthorize({
        requestId: `${prefix}-${n}`,
        accountId: accountOf(n),
        providerId: "openai",
        model: "gpt-4o-mini",
        estimatedInputTokens: 1_000n,
        maxOutputTokens: 500n,
        promptText: "",
        messages: [],
        ttlSeconds: 0,
      });
    await measure(warmUp, request("grpc-warm"));
    return await measure(seconds, request("grpc"));
  } finally {
    client?.close();
    await server.stop();
  }
}

export async function run(opts: { quick: boolean }): Promise<PreauthBenchResult> {
  const seconds = opts.quick ? 3 : 10;
  const warmUp = opts.quick ? 0.5 : 2;
  const context = await createTestContext();
  const pool = createPool(context.databaseUrl, { max: POOL_SIZE, applicationName: "heidrun-bench" });
  try {
    await seed(context);
    const db = createDb(pool);
    await measure(warmUp, (n) => rawHold(pool, n));
    await measure(warmUp, (n) => authorizeHold(db, holdInput("warm", n)));
    // Alternated, so drift on a shared machine touches both sides alike.
    const rounds = opts.quick ? 1 : 2;
    const baselineRuns: Measured[] = [];
    const heidrunRuns: Measured[] = [];
    for (let round = 0; round < rounds; round++) {
      baselineRuns.push(await measure(seconds / rounds, (n) => rawHold(pool, n)));
      heidrunRuns.push(await measure(seconds / rounds, (n) => authorizeHold(db, holdInput(`r${round}`, n))));
    }
    let grpc: PreauthBenchResult["grpc"];
    try {
      grpc = await throughGrpc(context, seconds / 2, warmUp);
    } catch (error) {
      grpc = { skipped: error instanceof Error ? error.message : String(error) };
    }
    const mean = (runs: Measured[], key: keyof Measured) =>
      Math.round((runs.reduce((sum, r) => sum + r[key], 0) / runs.length) * 100) / 100;
    const heidrun = Math.round(mean(heidrunRuns, "perSecond"));
    const baseline = Math.round(mean(baselineRuns, "perSecond"));
    const ratio = Math.round((heidrun / baseline) * 100) / 100;
    return {
      path: "db/authorizeHold",
      heidrun,
      baseline,
      ratio,
      unit: `holds/s at ${IN_FLIGHT} in flight`,
      goal: `>= ${MIN_RATIO}x, >= 2,000/s, p99 < ${P99_GOAL_MS} ms`,
      minRatio: MIN_RATIO,
      pass: heidrun >= GOAL_PER_SECOND && ratio >= MIN_RATIO && mean(heidrunRuns, "p99Ms") < P99_GOAL_MS,
      heidrunP99Ms: mean(heidrunRuns, "p99Ms"),
      baselineP99Ms: mean(baselineRuns, "p99Ms"),
      grpc,
      inFlight: IN_FLIGHT,
      poolSize: POOL_SIZE,
      seconds,
      batching: HOLD_BATCHING,
    };
  } finally {
    await pool.end();
    await context.close();
  }
}

function readable(r: PreauthBenchResult): string {
  const grpc =
    "perSecond" in r.grpc ? `${r.grpc.perSecond}/s p99 ${r.grpc.p99Ms} ms` : `skipped (${r.grpc.skipped})`;
  return (
    `PreAuthorize holds at ${r.inFlight} in flight: heidrun ${r.heidrun}/s p99 ${r.heidrunP99Ms} ms, ` +
    `raw pg conditional UPDATE ${r.baseline}/s p99 ${r.baselineP99Ms} ms, ratio ${r.ratio} ` +
    `(goal ${r.goal}); through gRPC ${grpc}: ${r.pass ? "PASS" : "FAIL"}`
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run({ quick: process.argv.includes("--quick") });
  console.log(JSON.stringify(result));
  console.log(readable(result));
  if (!result.pass) process.exitCode = 1;
}
