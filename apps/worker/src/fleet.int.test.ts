import { creditAccount } from "@heidrun/db";
import { type EnqueueItem, jobIdFor, type SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedPrices, testProducer, trackJob, untilFinished, WorkerProcess } from "./test-support/fixtures";

/**
 * Two worker processes settle 20,000 events of which 10 % are sent twice (about 40 s on a busy 2-core
 * machine). Another size: HEIDRUN_FLEET_EVENTS=5000 npx vitest run apps/worker/src/fleet.int.test.ts
 */
const EVENTS = Number.parseInt(process.env.HEIDRUN_FLEET_EVENTS ?? "20000", 10);
const ACCOUNTS = 40;
const ctx = useTestContext();
let producer: SettlementProducer;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  await seedPrices(ctx().db);
  producer = testProducer(ctx());
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await producer.close();
});

function event(i: number) {
  // Spread over March (version 1) and July (version 2), several hours, varied usage.
  const at = new Date(Date.UTC(2026, i % 3 === 0 ? 6 : 2, 1 + (i % 20), i % 24, i % 60, i % 60, i % 1000));
  return trackJob(
    `ev-${i}`,
    `acct-${i % ACCOUNTS}`,
    { input: BigInt(100 + ((i * 7919) % 50_000)), output: BigInt((i * 104_729) % 4000) },
    at,
  );
}

describe("a fleet of two worker processes", () => {
  it(`settles ${EVENTS} events with 10 % repeats exactly once, balanced to the micro`, async () => {
    const { db } = ctx();
    // Half the accounts have credit; the others are unknown until their first usage settles.
    for (let a = 0; a < ACCOUNTS; a += 2) {
      await creditAccount(db, {
        requestId: `credit-${a}`,
        accountId: `acct-${a}`,
        amountMicros: 50_000_000n,
        reference: "test",
        actor: "test",
      });
    }
    workers.push(WorkerProcess.spawn(ctx()), WorkerProcess.spawn(ctx()));
    await Promise.all(workers.map((w) => w.ready));

    // Four callers send batches of 1,000 (as TrackTokensBatch does) while the workers settle.
    const send = async (start: number): Promise<number> => {
      const items: EnqueueItem[] = [];
      for (let i = start; i < Math.min(start + 1000, EVENTS); i++)
        items.push({ ...event(i), fingerprint: `fp-${i}` });
      const outcomes = await producer.enqueue(items);
      // Repeats: half inside the window (answered as duplicates, nothing queued), half as if the window and
      // the finished job were long gone (queued again under another job id: only Postgres can tell).
      const repeats = items.filter((_, k) => k % 10 === 0);
      const again = await producer.enqueue(repeats.filter((_, k) => k % 2 === 0));
      expect(again.every((o) => o.duplicate)).toBe(true);
      const late = repeats.filter((_, k) => k % 2 === 1);
      await producer.queue.addBulk(
        late.map((item) => ({
          name: item.job.name,
          data: item.job.data,
          opts: {
            jobId: `${jobIdFor(item.requestId)}~late`,
            attempts: 5,
            backoff: { type: "exponential", delay: 200 },
          },
        })),
      );
      return outcomes.filter((o) => !o.duplicate).length + late.length;
    };
    let jobs = 0;
    const starts = Array.from({ length: Math.ceil(EVENTS / 1000) }, (_, k) => k * 1000);
    for (let k = 0; k < starts.length; k += 4) {
      const sent = await Promise.all(starts.slice(k, k + 4).map(send));
      jobs += sent.reduce((sum, n) => sum + n, 0);
    }
    expect(jobs).toBe(EVENTS + EVENTS / 20);

    await untilFinished(workers, jobs);
    expect(workers.map((w) => w.failed)).toEqual([0, 0]);
    expect(workers.every((w) => w.completed > 0)).toBe(true);

    const one = async (query: ReturnType<typeof sql>) => Object.values((await db.execute(query)).rows[0]!)[0];
    expect(await one(sql`SELECT count(*) FROM settlements WHERE status = 'settled'`)).toBe(BigInt(EVENTS));
    expect(await one(sql`SELECT count(*) FROM settlements`)).toBe(BigInt(EVENTS));
    expect(await one(sql`SELECT count(*) FROM usage_events`)).toBe(BigInt(EVENTS));
    expect(await one(sql`SELECT coalesce(sum(amount_micros), 0)::bigint FROM ledger_entries`)).toBe(0n);
    expect(await one(sql`SELECT count(*) FROM ledger_entries WHERE entry_type = 'usage_charge'`)).toBe(
      BigInt(EVENTS),
    );
    expect(
      await one(
        sql`SELECT count(*) FROM settlements WHERE provider_earnings_micros + company_fee_micros <> total_cost_micros`,
      ),
    ).toBe(0n);
    expect(await one(sql`SELECT count(*) FROM settlements WHERE total_cost_micros <= 0`)).toBe(0n);
    // Every balance is its credits minus its settled totals.
    const drift = await db.execute(sql`
      SELECT a.account_id, a.balance_micros,
        coalesce((SELECT sum(amount_micros) FROM ledger_entries l WHERE l.account_id = a.account_id AND l.entry_type = 'credit'), 0)
        - coalesce((SELECT sum(total_cost_micros) FROM settlements s WHERE s.account_id = a.account_id AND s.status = 'settled'), 0)
        AS expected
      FROM accounts a`);
    expect(drift.rows).toHaveLength(ACCOUNTS);
    expect(
      drift.rows.filter((r) => BigInt(r.balance_micros as bigint) !== BigInt(r.expected as string)),
    ).toEqual([]);
    const rollups = await db.execute(
      sql`SELECT sum(request_count)::bigint AS n, sum(total_cost_micros)::bigint AS cost FROM usage_rollups_hourly`,
    );
    expect(rollups.rows[0]).toEqual({
      n: BigInt(EVENTS),
      cost: await one(sql`SELECT sum(total_cost_micros)::bigint FROM settlements`),
    });
    const audit = await db.execute(
      sql`SELECT event_type, count(*)::int AS n FROM audit_events WHERE event_type LIKE 'usage.%' OR event_type LIKE 'settlement.%' GROUP BY 1 ORDER BY 1`,
    );
    expect(audit.rows).toEqual([
      { event_type: "settlement.settled", n: EVENTS },
      { event_type: "usage.recorded", n: EVENTS },
    ]);
  }, 180_000);
});
