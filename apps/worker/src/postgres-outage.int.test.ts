import { createDb, createPool, reconcileSettlements, SettlementRequeuer } from "@heidrun/db";
import { freePort } from "@heidrun/observability";
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

/**
 * The gap docs/reliability.md used to list: post-paid usage whose job ran out of retries while PostgreSQL was
 * unreachable has nothing in PostgreSQL, so only BullMQ's failed set holds it. The reconciler must find it there.
 */
const ctx = useTestContext();
let producer: SettlementProducer;
const KEEP_FAILED_SECONDS = 3600;
const MARCH = new Date("2026-03-01T10:15:00.000Z");

beforeAll(async () => {
  await seedPrices(ctx().db);
  producer = testProducer(ctx(), { attempts: 2, backoffMs: 50, keepFailedSeconds: KEEP_FAILED_SECONDS });
});
afterEach(async () => {
  await stopTestWorkers();
});
afterAll(async () => {
  await producer.close();
});

describe("a PostgreSQL outage longer than a job's retries", () => {
  it("leaves post-paid usage in the failed set, and the reconciler settles it once PostgreSQL answers", async () => {
    // Nothing listens on this port: every statement of the worker is refused, as in an outage.
    const unreachable = createPool(`postgres://postgres@127.0.0.1:${await freePort()}/heidrun`, {
      connectionTimeoutMs: 1000,
    });
    const jobs = ["outage-1", "outage-2", "outage-3"].map((id) =>
      trackJob(id, "acct-outage", { input: 1000n, output: 500n }, MARCH),
    );
    await producer.enqueue(jobs.map((j) => ({ ...j, fingerprint: j.requestId })));
    const down = await startTestWorker(ctx(), {}, {}, { pool: unreachable, db: createDb(unreachable) });
    const gaveUp = await down.finished(3);
    expect([...gaveUp.failed.keys()].sort()).toEqual(["outage-1", "outage-2", "outage-3"]);
    await stopTestWorkers();
    await unreachable.end();
    expect(await ctx().db.execute(sql`SELECT request_id FROM usage_events`)).toMatchObject({ rows: [] });

    const report = await reconcileSettlements(ctx().db, new SettlementRequeuer(producer), {
      keepFailedSeconds: KEEP_FAILED_SECONDS,
      minAgeMs: 0,
    });
    expect(report.findings.map((f) => `${f.kind} ${f.requestId} ${f.action}`).sort()).toEqual([
      "usage_failed_job outage-1 retried",
      "usage_failed_job outage-2 retried",
      "usage_failed_job outage-3 retried",
    ]);

    const up = await startTestWorker(ctx());
    const settled = await up.finished(3);
    expect(settled.failed.size).toBe(0);
    // 1000 × 0.15 + 500 × 0.60 = 450 micros each, charged once.
    const books = await ctx().db.execute(sql`
      SELECT count(*)::int AS n, sum(total_cost_micros)::bigint AS total FROM settlements
      WHERE status = 'settled' AND account_id = 'acct-outage'`);
    expect(books.rows).toEqual([{ n: 3, total: 1350n }]);
    expect(
      (await ctx().db.execute(sql`SELECT balance_micros FROM accounts WHERE account_id = 'acct-outage'`))
        .rows,
    ).toEqual([{ balance_micros: -1350n }]);
  });
});
