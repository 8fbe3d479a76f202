import type { SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  seedPrices,
  startTestWorker,
  stopTestWorkers,
  testProducer,
  trackJob,
} from "./test-support/fixtures";

const ctx = useTestContext();
let producer: SettlementProducer;
const MARCH = new Date("2026-03-01T10:15:00.000Z");

beforeAll(async () => {
  await seedPrices(ctx().db);
  producer = testProducer(ctx());
});
afterEach(async () => {
  await stopTestWorkers();
});
afterAll(async () => {
  await producer.close();
});

/** Waits for an in-memory condition, one event-loop turn at a time (no wall-clock sleeps). */
async function turnsUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

async function scalar(query: ReturnType<typeof sql>): Promise<unknown> {
  return Object.values((await ctx().db.execute(query)).rows[0] as Record<string, unknown>)[0];
}

describe("settlement worker lifecycle", () => {
  it("on stop, flushes the open batch at once and completes its jobs before closing", async () => {
    const jobs = Array.from({ length: 10 }, (_, i) =>
      trackJob(`stop-${i}`, "acct-stop", { input: 1000n, output: 500n }, MARCH),
    );
    // A linger far longer than the test: only stop() can send this batch.
    const { worker, finished } = await startTestWorker(ctx(), {
      worker: { batchSize: 500, lingerMs: 10_000 },
    });
    await producer.enqueueWithoutWindow(jobs);
    await turnsUntil(() => worker.batcher.pending === 10);
    expect(await scalar(sql`SELECT count(*) FROM settlements WHERE request_id LIKE 'stop-%'`)).toBe(0n);
    await worker.stop();
    const seen = await finished(10);
    expect(seen.completed.size).toBe(10);
    expect(await scalar(sql`SELECT count(*) FROM settlements WHERE request_id LIKE 'stop-%'`)).toBe(10n);
    expect(await producer.queue.getJobCountByTypes("active", "waiting")).toBe(0);
  });

  it("retries a batch that hit a serialization failure with BullMQ's backoff and settles it once", async () => {
    // The first transaction that inserts usage fails with SQLSTATE 40001; a sequence is not rolled back.
    await ctx().db.execute(sql`CREATE SEQUENCE flaky_once`);
    await ctx().db.execute(sql`
      CREATE FUNCTION flaky_usage() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('flaky_once') = 1 THEN
          RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001';
        END IF;
        RETURN NEW;
      END $$`);
    await ctx().db.execute(
      sql`CREATE TRIGGER flaky BEFORE INSERT ON usage_events FOR EACH STATEMENT EXECUTE FUNCTION flaky_usage()`,
    );
    const jobs = Array.from({ length: 20 }, (_, i) =>
      trackJob(`flaky-${i}`, `acct-f${i % 3}`, { input: 1000n, output: 500n }, MARCH),
    );
    await producer.enqueueWithoutWindow(jobs);
    const { finished } = await startTestWorker(ctx(), { worker: { batchSize: 20, lingerMs: 5000 } });
    const seen = await finished(20);
    await ctx().db.execute(sql`DROP TRIGGER flaky ON usage_events`);
    expect(seen.failed.size).toBe(0);
    expect([...seen.completed.values()].every((r) => (r as { status: string }).status === "settled")).toBe(
      true,
    );
    const attempts = await Promise.all(
      jobs.map(async (j) => (await producer.queue.getJob(`req~${j.requestId}`))?.attemptsMade),
    );
    expect(attempts).toEqual(jobs.map(() => 2));
    expect(await scalar(sql`SELECT count(*) FROM settlements WHERE request_id LIKE 'flaky-%'`)).toBe(20n);
    expect(await scalar(sql`SELECT count(*) FROM ledger_entries WHERE request_id LIKE 'flaky-%'`)).toBe(60n);
  });
});
