import { createDb, createPool } from "@heidrun/db";
import { createRegistry, silentLogger } from "@heidrun/observability";
import {
  createRedisCluster,
  type EnqueueItem,
  jobIdFor,
  redisReady,
  SETTLEMENT_QUEUE,
  SettlementProducer,
} from "@heidrun/queue";
import { type LocalRedisCluster, startRedisCluster, useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import type { Cluster } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedPrices, testConfig, testPriceCache, trackJob } from "./test-support/fixtures";

import { createWorker, type SettlementWorker } from "./worker";

/**
 * The queue on a 3-master Redis Cluster: BullMQ needs every key of a queue in one slot, which the queue
 * prefix's hash tag gives (tests use `{t…}`, production `{heidrun}`); the idempotency keys share it.
 */
const EVENTS = 2000;
const ctx = useTestContext();
let redisCluster: LocalRedisCluster;
let producer: SettlementProducer;
const connections: Cluster[] = [];
const pools: pg.Pool[] = [];
const workers: SettlementWorker[] = [];

function clusterConnection(role: "producer" | "worker"): Cluster {
  const connection = createRedisCluster(redisCluster.nodes, role);
  connections.push(connection);
  return connection;
}

beforeAll(async () => {
  redisCluster = await startRedisCluster();
  await seedPrices(ctx().db);
  const connection = clusterConnection("producer");
  await redisReady(connection);
  producer = new SettlementProducer({
    connection,
    prefix: ctx().redisPrefix,
    settings: () => ({
      attempts: 5,
      backoffMs: 200,
      keepCompletedSeconds: 3600,
      keepFailedSeconds: 3600,
      idempotencyWindowSeconds: 3600,
    }),
  });
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  await producer?.close();
  await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
  await Promise.all(pools.map((pool) => pool.end()));
  await redisCluster?.stop();
});

/** A worker as a process would build it: its own pool and its own Cluster connection. */
async function startClusterWorker(finished: { completed: number; failed: number; wake(): void }) {
  const pool = createPool(ctx().databaseUrl, {
    max: 10,
    role: "heidrun_app",
    applicationName: "cluster-test",
  });
  pools.push(pool);
  const db = createDb(pool);
  const urls = { databaseUrl: ctx().databaseUrl, redisUrl: ctx().redisUrl, redisPrefix: ctx().redisPrefix };
  const worker = createWorker({
    config: testConfig(urls),
    log: silentLogger(),
    registry: createRegistry(),
    pool,
    db,
    connection: clusterConnection("worker"),
    priceCache: testPriceCache(db, ctx().redisPrefix),
  });
  let mine = 0;
  worker.worker.on("completed", () => {
    mine++;
    finished.completed++;
    finished.wake();
  });
  worker.worker.on("failed", (job) => {
    if (job?.finishedOn === undefined) return;
    finished.failed++;
    finished.wake();
  });
  await worker.start();
  workers.push(worker);
  return { completed: () => mine };
}

async function scalar(query: ReturnType<typeof sql>): Promise<unknown> {
  return Object.values((await ctx().db.execute(query)).rows[0] as Record<string, unknown>)[0];
}

describe("the worker fleet on a 3-node Redis Cluster", () => {
  it(`settles ${EVENTS} events with 10 % repeats exactly once, the ledger summing to zero`, async () => {
    const masters = connections[0]!.nodes("master");
    expect(masters).toHaveLength(3);
    // Every key of the queue and of the idempotency window hashes to the prefix's slot.
    const slotOf = (key: string) => masters[0]!.cluster("KEYSLOT", key);
    const slot = await slotOf(ctx().redisPrefix);
    expect(await slotOf(`${ctx().redisPrefix}:${SETTLEMENT_QUEUE}:wait`)).toBe(slot);
    expect(await slotOf(producer.idempotencyKey("any-request"))).toBe(slot);

    const finished = {
      completed: 0,
      failed: 0,
      waiters: [] as (() => void)[],
      wake() {
        for (const wake of this.waiters.splice(0)) wake();
      },
    };
    const fleet = [await startClusterWorker(finished), await startClusterWorker(finished)];

    let jobs = 0;
    for (let start = 0; start < EVENTS; start += 500) {
      const items: EnqueueItem[] = [];
      for (let i = start; i < start + 500; i++) {
        const at = new Date(Date.UTC(2026, i % 3 === 0 ? 6 : 2, 1 + (i % 20), i % 24, i % 60));
        const tokens = { input: BigInt(100 + ((i * 7919) % 50_000)), output: BigInt((i * 104_729) % 4000) };
        items.push({ ...trackJob(`cl-${i}`, `acct-${i % 25}`, tokens, at), fingerprint: `fp-${i}` });
      }
      jobs += (await producer.enqueue(items)).filter((outcome) => !outcome.duplicate).length;
      // 10 % repeats: half answered from the idempotency window, half queued again under another job id
      // (as if the window had expired), which only Postgres can recognise.
      const repeats = items.filter((_, k) => k % 10 === 0);
      const again = await producer.enqueue(repeats.filter((_, k) => k % 2 === 0));
      expect(again.every((outcome) => outcome.duplicate)).toBe(true);
      const late = repeats.filter((_, k) => k % 2 === 1);
      await producer.queue.addBulk(
        late.map((item) => ({
          name: item.job.name,
          data: item.job.data,
          opts: { jobId: `${jobIdFor(item.requestId)}~late`, attempts: 5 },
        })),
      );
      jobs += late.length;
    }
    expect(jobs).toBe(EVENTS + EVENTS / 20);
    while (finished.completed + finished.failed < jobs) {
      await new Promise<void>((resolve) => finished.waiters.push(resolve));
    }

    expect(finished).toMatchObject({ completed: jobs, failed: 0 });
    expect(fleet.every((worker) => worker.completed() > 0)).toBe(true);
    expect(await scalar(sql`SELECT count(*) FROM settlements WHERE status = 'settled'`)).toBe(BigInt(EVENTS));
    expect(await scalar(sql`SELECT count(*) FROM settlements`)).toBe(BigInt(EVENTS));
    expect(await scalar(sql`SELECT count(*) FROM usage_events`)).toBe(BigInt(EVENTS));
    expect(await scalar(sql`SELECT count(*) FROM ledger_entries WHERE entry_type = 'usage_charge'`)).toBe(
      BigInt(EVENTS),
    );
    expect(await scalar(sql`SELECT coalesce(sum(amount_micros), 0)::bigint FROM ledger_entries`)).toBe(0n);
    expect(
      await scalar(
        sql`SELECT count(*) FROM settlements WHERE provider_earnings_micros + company_fee_micros <> total_cost_micros`,
      ),
    ).toBe(0n);
  });
});
