import { authorizeHold, captureHold } from "@heidrun/db";
import type { SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  OPENAI,
  seedPrices,
  startTestWorker,
  stopTestWorkers,
  testProducer,
  trackJob,
  WorkerProcess,
} from "./test-support/fixtures";

const ctx = useTestContext();
let producer: SettlementProducer;
let v1Id: bigint;
const MARCH = new Date("2026-03-01T10:15:00.000Z");

beforeAll(async () => {
  ({ v1Id } = await seedPrices(ctx().db));
  producer = testProducer(ctx());
});
afterEach(async () => {
  await stopTestWorkers();
});
afterAll(async () => {
  await producer.close();
});

async function scalar(query: ReturnType<typeof sql>): Promise<unknown> {
  const result = await ctx().db.execute(query);
  return Object.values(result.rows[0] as Record<string, unknown>)[0];
}

describe("settlement worker", () => {
  it("isolates one poison job in a batch of 500: 499 settle, it alone fails with the reason of its FAILED row", async () => {
    await ctx().db.execute(sql`
      CREATE FUNCTION poison_usage() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.request_id = 'poison-0250' THEN RAISE EXCEPTION 'poisoned usage %', NEW.request_id; END IF;
        RETURN NEW;
      END $$`);
    await ctx().db.execute(
      sql`CREATE TRIGGER poison BEFORE INSERT ON usage_events FOR EACH ROW EXECUTE FUNCTION poison_usage()`,
    );
    const jobs = Array.from({ length: 500 }, (_, i) =>
      trackJob(
        `poison-${String(i).padStart(4, "0")}`,
        `acct-p${i % 7}`,
        { input: 1000n, output: 500n },
        MARCH,
      ),
    );
    await producer.enqueueWithoutWindow(jobs);
    // A long linger: the 500 jobs form one batch, so the split is what saves the 499.
    const { finished, registry } = await startTestWorker(ctx(), {
      worker: { batchSize: 500, lingerMs: 10_000 },
    });
    const seen = await finished(500);
    await ctx().db.execute(sql`DROP TRIGGER poison ON usage_events`);

    const reason = "settlement failed: poisoned usage poison-0250 (SQLSTATE P0001)";
    expect([...seen.failed]).toEqual([["poison-0250", reason]]);
    expect(seen.completed.size).toBe(499);
    const rows = await ctx().db.execute(sql`
      SELECT status, count(*)::int AS n, min(failure_reason) AS reason FROM settlements
      WHERE request_id LIKE 'poison-%' GROUP BY status ORDER BY status`);
    expect(rows.rows).toEqual([
      { status: "failed", n: 1, reason },
      { status: "settled", n: 499, reason: null },
    ]);
    const failedJob = await producer.queue.getJob("req~poison-0250");
    expect(failedJob?.failedReason).toBe(reason);
    expect(failedJob?.attemptsMade).toBe(1);
    const batches = await registry.getSingleMetricAsString("heidrun_settle_batch_size");
    expect(batches).toMatch(/^heidrun_settle_batch_size_sum 500$/m);
    expect(batches).toMatch(/^heidrun_settle_batch_size_count 1$/m);
  });

  it("fails a usage without a price with a FAILED row and a failed job carrying the same reason", async () => {
    await producer.enqueueWithoutWindow([
      trackJob("np-1", "acct-np", { input: 10n, output: 10n }, MARCH, { providerId: "nobody", model: "m" }),
      trackJob("np-2", "acct-np", { input: 1000n, output: 500n }, MARCH),
    ]);
    const { finished } = await startTestWorker(ctx());
    const seen = await finished(2);
    const row = await ctx().db.execute(
      sql`SELECT status, failure_reason, total_cost_micros FROM settlements WHERE request_id = 'np-1'`,
    );
    const reason = seen.failed.get("np-1");
    expect(reason).toMatch(/nobody/);
    expect(row.rows).toEqual([{ status: "failed", failure_reason: reason, total_cost_micros: 0n }]);
    expect(seen.completed.get("np-2")).toEqual({
      status: "settled",
      totalCostMicros: "450",
      priceVersion: "1",
    });
    expect((await producer.queue.getJob("req~np-1"))?.attemptsMade).toBe(1);
  });

  it("fails a job whose payload is invalid at once, naming the problem", async () => {
    const bad = trackJob("bad-1", "acct-bad", { input: 10n, output: 10n }, MARCH);
    (bad.job.data as { usage: { cachedInputTokens: string } }).usage.cachedInputTokens = "11";
    await producer.enqueueWithoutWindow([bad]);
    const { finished } = await startTestWorker(ctx());
    const seen = await finished(1);
    expect(seen.failed.get("bad-1")).toMatch(/^invalid track-usage job: usage.cached_input_tokens: /);
    expect(await scalar(sql`SELECT count(*) FROM settlements WHERE request_id = 'bad-1'`)).toBe(0n);
  });

  it("settles a captured pre-auth with the price version pinned at authorization", async () => {
    const { db } = ctx();
    await db.execute(sql`INSERT INTO accounts (account_id, balance_micros) VALUES ('acct-cap', 1000000)`);
    const hold = await authorizeHold(db, {
      requestId: "pa-1",
      fingerprint: "fp-pa-1",
      accountId: "acct-cap",
      ...OPENAI,
      estimatedCostMicros: 5000n,
      estimatedInputTokens: 10_000n,
      maxOutputTokens: 1000n,
      priceVersion: 1n,
      priceVersionId: v1Id,
      ttlSeconds: 600,
      actor: "test",
    });
    const preauthId = hold.preauth.preauthId;
    const usage = { inputTokens: 2000n, outputTokens: 1000n, cachedInputTokens: 0n, cacheWriteTokens: 0n };
    await captureHold(db, { requestId: "cap-1", preauthId, usage, capturedCostMicros: 900n, actor: "test" });
    await producer.enqueueWithoutWindow([
      {
        requestId: "cap-1",
        job: { name: "settle-capture", data: { requestId: "cap-1", preauthId, actor: "test" } },
      },
    ]);
    const { finished } = await startTestWorker(ctx());
    // Captured now (version 2 in effect: it would cost 1800); the pinned version 1 prices it at 900.
    expect((await finished(1)).completed.get("cap-1")).toEqual({
      status: "settled",
      totalCostMicros: "900",
      priceVersion: "1",
    });
    const account = await db.execute(
      sql`SELECT balance_micros, held_micros FROM accounts WHERE account_id = 'acct-cap'`,
    );
    expect(account.rows).toEqual([{ balance_micros: 999_100n, held_micros: 0n }]);
    expect(await scalar(sql`SELECT preauth_id FROM settlements WHERE request_id = 'cap-1'`)).toBe(preauthId);
  });

  it("reruns the jobs of a worker killed after its commit and applies nothing twice", async () => {
    const jobs = Array.from({ length: 300 }, (_, i) =>
      trackJob(`kill-${String(i).padStart(3, "0")}`, `acct-k${i % 5}`, { input: 1000n, output: 500n }, MARCH),
    );
    await producer.enqueueWithoutWindow(jobs);
    const doomed = WorkerProcess.spawn(
      ctx(),
      { crashAfterCommit: true, workerOptions: { lockDuration: 1000, stalledInterval: 500 } },
      // It holds one batch at a time, so exactly one batch commits before it dies.
      { worker: { batchSize: 100, lingerMs: 1000, concurrency: 100 } },
    );
    expect((await doomed.exited).signal).toBe("SIGKILL");
    const committed = (await scalar(
      sql`SELECT count(*) FROM settlements WHERE request_id LIKE 'kill-%'`,
    )) as bigint;
    expect(committed).toBe(100n);
    expect(doomed.completed).toBe(0);

    // The doomed worker's jobs are still active under a lock nobody renews; the stalled check requeues them.
    // (Earlier tests' workers claimed the queue's stalled check for their default 30 s interval: release it.)
    await ctx().redis.del(`${ctx().redisPrefix}:settlements:stalled-check`);
    const { finished } = await startTestWorker(ctx(), {}, { stalledInterval: 500 });
    const seen = await finished(300);
    const results = [...seen.completed.values()].map((r) => (r as { status: string }).status);
    expect(results.filter((s) => s === "already_settled")).toHaveLength(100);
    expect(results.filter((s) => s === "settled")).toHaveLength(200);
    expect(await scalar(sql`SELECT count(*) FROM settlements WHERE request_id LIKE 'kill-%'`)).toBe(300n);
    expect(await scalar(sql`SELECT count(*) FROM ledger_entries WHERE request_id LIKE 'kill-%'`)).toBe(900n);
    expect(await scalar(sql`SELECT count(*) FROM audit_events WHERE request_id LIKE 'kill-%'`)).toBe(600n);
    expect(
      await scalar(sql`SELECT sum(balance_micros)::bigint FROM accounts WHERE account_id LIKE 'acct-k%'`),
    ).toBe(-300n * 450n);
  });
});
