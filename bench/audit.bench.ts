/**
 * What the audit trail costs a batch transaction: the same transaction (100 ledger-like rows inserted with
 * unnest) with and without `appendAudit` of 100 events, run alternately on one connection of the application
 * role, plus the round trips each makes. Also how many single-event audited transactions per second 8
 * concurrent writers get, against the same transactions without the append: every append holds the chain
 * head until its commit, so this is the ceiling the audit trail puts on audited writes.
 *
 *   npx tsx bench/audit.bench.ts [--quick]
 *
 * Prints one JSON line ({path, heidrun, baseline, ratio, unit, goal, pass, ...}) and one readable line.
 * Needs PostgreSQL (as the tests do); works in a database of its own that it drops afterwards.
 */
import { pathToFileURL } from "node:url";
import {
  type AuditEventInput,
  appendAudit,
  createDb,
  createPool,
  type Db,
  verifyAuditChain,
} from "@heidrun/db";
import { createTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import type pg from "pg";

export interface AuditBenchResult {
  path: string;
  /** Median ms of the batch transaction with the append. */
  heidrun: number;
  /** Median ms of the same transaction without it. */
  baseline: number;
  ratio: number;
  unit: string;
  /** What passes, in words: one extra round trip and at most GOAL_EXTRA_MS extra ms per batch transaction. */
  goal: string;
  pass: boolean;
  extraMs: number;
  extraRoundTrips: number;
  batchSize: number;
  iterations: number;
  /** Single-event transactions per second with 8 concurrent writers, with and without the append. */
  concurrentAuditedTxPerSecond: number;
  concurrentBaselineTxPerSecond: number;
}

const BATCH = 100;
const GOAL_EXTRA_MS = 5;
const WRITERS = 8;

let concurrentRuns = 0;

const round2 = (ms: number) => Math.round(ms * 100) / 100;

function ledgerInsert(tx: Pick<Db, "execute">, prefix: string, count: number) {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const amounts = ids.map((_, i) => (BigInt(i) * 1_234_567n).toString());
  return tx.execute(sql`
    INSERT INTO ledger_entries (request_id, entry_type, account_kind, account_id, amount_micros)
    SELECT r, 'usage_charge', 'consumer', 'acct-bench', a
    FROM unnest(${sql.param(ids)}::text[], ${sql.param(amounts)}::bigint[]) AS t(r, a)`);
}

function auditEvents(prefix: string, count: number): AuditEventInput[] {
  return Array.from({ length: count }, (_, i) => ({
    type: "settlement.settled",
    requestId: `${prefix}-${i}`,
    accountId: "acct-bench",
    providerId: "prov-bench",
    actor: "worker",
    data: {
      totalCostMicros: BigInt(i) * 1_234_567n,
      inputTokens: 1_200n,
      outputTokens: 350n,
      model: "bench-model",
    },
  }));
}

/** Counts every query a pool's clients send, BEGIN and COMMIT included. */
function countQueries(pool: pg.Pool): { read(): number } {
  let count = 0;
  pool.on("connect", (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      count += 1;
      return query(...args);
    };
  });
  return { read: () => count };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

async function concurrentTxPerSecond(db: Db, perWriter: number, audited: boolean): Promise<number> {
  concurrentRuns += 1;
  const tag = `c${concurrentRuns}`;
  const seconds =
    (await timed(() =>
      Promise.all(
        Array.from({ length: WRITERS }, async (_, writer) => {
          for (let i = 0; i < perWriter; i++) {
            const prefix = `${tag}-${writer}-${i}`;
            await db.transaction(async (tx) => {
              await ledgerInsert(tx, prefix, 1);
              if (audited) await appendAudit(tx, auditEvents(prefix, 1));
            });
          }
        }),
      ),
    )) / 1000;
  return Math.round((WRITERS * perWriter) / seconds);
}

export async function run(opts: { quick: boolean }): Promise<AuditBenchResult> {
  const ctx = await createTestContext();
  const pool = createPool(ctx.databaseUrl, {
    role: "heidrun_app",
    max: WRITERS,
    applicationName: "bench-audit",
  });
  try {
    const queries = countQueries(pool);
    const db = createDb(pool);
    const iterations = opts.quick ? 40 : 200;
    const warmUp = opts.quick ? 5 : 20;
    const withAudit: number[] = [];
    const without: number[] = [];
    let roundTrips = { with: 0, without: 0 };
    for (let i = -warmUp; i < iterations; i++) {
      const before = queries.read();
      const plain = await timed(() => db.transaction((tx) => ledgerInsert(tx, `b${i}`, BATCH)));
      const middle = queries.read();
      const audited = await timed(() =>
        db.transaction(async (tx) => {
          await ledgerInsert(tx, `a${i}`, BATCH);
          await appendAudit(tx, auditEvents(`a${i}`, BATCH));
        }),
      );
      roundTrips = { without: middle - before, with: queries.read() - middle };
      if (i < 0) continue;
      without.push(plain);
      withAudit.push(audited);
    }
    const perWriter = opts.quick ? 50 : 250;
    const concurrentBaselineTxPerSecond = await concurrentTxPerSecond(db, perWriter, false);
    const concurrentAuditedTxPerSecond = await concurrentTxPerSecond(db, perWriter, true);
    const verified = await verifyAuditChain(db);
    if (!verified.ok) throw new Error(`the benchmark's chain does not verify: ${verified.reason}`);

    const heidrun = round2(median(withAudit));
    const baseline = round2(median(without));
    const extraMs = round2(heidrun - baseline);
    const extraRoundTrips = roundTrips.with - roundTrips.without;
    return {
      path: "db/appendAudit",
      heidrun,
      baseline,
      ratio: round2(heidrun / baseline),
      unit: `ms per transaction of ${BATCH} ledger rows (+ ${BATCH} audit events)`,
      goal: `+1 round trip and <= ${GOAL_EXTRA_MS} ms per batch transaction`,
      pass: extraMs <= GOAL_EXTRA_MS && extraRoundTrips === 1,
      extraMs,
      extraRoundTrips,
      batchSize: BATCH,
      iterations,
      concurrentAuditedTxPerSecond,
      concurrentBaselineTxPerSecond,
    };
  } finally {
    await pool.end();
    await ctx.close();
  }
}

function readable(r: AuditBenchResult): string {
  return (
    `audit append: ${r.heidrun} ms vs ${r.baseline} ms per ${r.batchSize}-row batch transaction ` +
    `(+${r.extraMs} ms, +${r.extraRoundTrips} round trip; goal ${r.goal}): ${r.pass ? "PASS" : "FAIL"}; ` +
    `${WRITERS} writers of single-event transactions: ${r.concurrentAuditedTxPerSecond} tx/s audited vs ` +
    `${r.concurrentBaselineTxPerSecond} tx/s without`
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run({ quick: process.argv.includes("--quick") });
  console.log(JSON.stringify(result));
  console.log(readable(result));
  if (!result.pass) process.exitCode = 1;
}
