import { Writable } from "node:stream";
import { type ConfigStore, configStoreFor } from "@heidrun/config";
import { PriceCache, priceChannel, setPrice } from "@heidrun/db";
import { createRegistry, silentLogger } from "@heidrun/observability";
import { SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { createWorker, type SettlementWorker } from "@heidrun/worker";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandIo } from "../io";
import { settlements } from "./settlements";

const ctx = useTestContext();
const N = 20;
const REQUESTS = Array.from({ length: N }, (_, i) => `use-${String(i).padStart(2, "0")}`);
let config: ConfigStore;
let producer: SettlementProducer;
let cache: PriceCache;
let worker: SettlementWorker;
let finished = 0;
let wake: () => void = () => {};

async function untilFinished(count: number): Promise<void> {
  while (finished < count) await new Promise<void>((resolve) => (wake = resolve));
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (chunks: string[]) =>
    new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    });
  const io: CommandIo = { config, stdout: sink(out), stderr: sink(err), stopSignal: new Promise(() => {}) };
  const code = await settlements(argv, io);
  return { code, stdout: out.join(""), stderr: err.join("") };
}

async function scalar(query: ReturnType<typeof sql>): Promise<unknown> {
  const result = await ctx().db.execute(query);
  return Object.values(result.rows[0] as Record<string, unknown>)[0];
}

beforeAll(async () => {
  config = configStoreFor(ctx(), {
    queue: { prefix: ctx().redisPrefix, attempts: 3, backoffMs: 100 },
    worker: { batchSize: 100, lingerMs: 10, concurrency: 100, shutdownGraceMs: 5000 },
    redis: { durabilityCheck: "off" },
  });
  producer = new SettlementProducer({
    connection: ctx().newRedis(),
    prefix: ctx().redisPrefix,
    settings: () => ({ ...config.current().settings.queue, idempotencyWindowSeconds: 3600 }),
  });
  cache = new PriceCache({
    db: ctx().db,
    channel: priceChannel(ctx().redisPrefix),
    refreshIntervalMs: 60_000,
  });
  worker = createWorker({
    config,
    log: silentLogger(),
    registry: createRegistry(),
    pool: ctx().pool,
    db: ctx().db,
    connection: ctx().newRedis({ forWorker: true }),
    priceCache: cache,
  });
  worker.worker.on("completed", () => {
    finished += 1;
    wake();
  });
  worker.worker.on("failed", (job) => {
    if (job?.finishedOn === undefined) return;
    finished += 1;
    wake();
  });
  await worker.start();
  // No price for acme yet: every job settles as FAILED and lands in the failed set.
  await producer.enqueueWithoutWindow(
    REQUESTS.map((requestId) => ({
      requestId,
      job: {
        name: "track-usage" as const,
        data: {
          requestId,
          accountId: requestId.endsWith("0") ? "acct-x" : "acct-y",
          providerId: "acme",
          model: "acme-1",
          usage: { inputTokens: "1000", outputTokens: "500", cachedInputTokens: "0", cacheWriteTokens: "0" },
          occurredAt: "2026-03-01T10:00:00.000Z",
          actor: "test",
        },
      },
    })),
  );
  await untilFinished(N);
});
afterAll(async () => {
  await worker.stop();
  await producer.close();
});

describe("heidrun settlements", () => {
  it("rerun --dry-run counts and queues nothing", async () => {
    const result = await run(["rerun", "--provider", "acme", "--dry-run"]);
    expect(result).toEqual({
      code: 0,
      stdout: `dry run: ${N} failed settlements match; nothing was queued\n`,
      stderr: "",
    });
    expect(await producer.queue.getJobCounts("waiting", "failed")).toEqual({ waiting: 0, failed: N });
  });

  it("rejects bad arguments with the usage", async () => {
    const result = await run(["rerun", "--since", "yesterday"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--since must be an ISO-8601 time or an age like 24h, got "yesterday"');
    expect((await run(["frobnicate"])).code).toBe(2);
  });

  it("two reruns at once settle every failed settlement exactly once", async () => {
    // $1 in, $2 out per Mtok: 1000 × 1 + 500 × 2 = 2000 micros each.
    const price = await setPrice(
      ctx().db,
      {
        providerId: "acme",
        model: "*",
        inputMicrosPerMtok: 1_000_000n,
        outputMicrosPerMtok: 2_000_000n,
        effectiveFrom: new Date("2026-01-01Z"),
      },
      { requestId: "price-acme", actor: "test" },
    );
    cache.add(price.price);
    // Besides the two reruns, a second job per request (as if a rerun's job id had not deduplicated): every
    // request then has two jobs running at once, and the conditional UPDATE lets exactly one of them settle it.
    const failedJobs = await producer.queue.getJobs(["failed"]);
    expect(failedJobs).toHaveLength(N);
    const [x, y] = await Promise.all([
      run(["rerun", "--provider", "acme", "--since", "7d", "--wait", "60"]),
      run(["rerun", "--reason", "NO PRICE", "--wait", "60"]),
      producer.queue.addBulk(
        failedJobs.map((job) => ({ name: job.name, data: job.data, opts: { jobId: `${job.id}~dup` } })),
      ),
    ]);
    // Each run accounts for every match: queued by it, found queued by the other, or settled before its turn
    // (a duplicate job may settle a row before a run selects it, so a run may match fewer than N, even 0).
    let retried = 0;
    for (const result of [x, y]) {
      expect(result.code).toBe(0);
      const figure = (label: string) =>
        Number(new RegExp(`^${label} +(\\d+)$`, "m").exec(result.stdout)?.[1]);
      const followed = figure("requeued") + figure("in flight");
      expect(figure("matched")).toBeLessThanOrEqual(N);
      expect(followed + figure("already settled")).toBe(figure("matched"));
      // Only a run that queued or met a job follows it and prints what became of it.
      if (followed > 0) {
        expect(figure("settled")).toBe(followed);
        expect(figure("still failing")).toBe(0);
      } else expect(result.stdout).not.toMatch(/^settled /m);
      retried += figure("requeued");
    }
    // Every job that ran finishes once: the N first attempts, the N duplicates, and each failed job a run
    // retried (a job retried by one run is "in flight" to the other). How many were retried depends on
    // whether the duplicates settled first, so the wait is for exactly the jobs the runs say they queued.
    await untilFinished(N * 2 + retried);
    expect(await scalar(sql`SELECT count(*) FROM settlements WHERE status = 'settled'`)).toBe(BigInt(N));
    const perRequest = await ctx().db.execute(sql`
      SELECT s.request_id,
        (SELECT count(*) FROM ledger_entries l WHERE l.request_id = s.request_id) AS entries,
        (SELECT count(*) FROM audit_events a
          WHERE a.request_id = s.request_id AND a.event_type = 'settlement.settled') AS settled_events
      FROM settlements s ORDER BY s.request_id`);
    expect(perRequest.rows).toEqual(
      REQUESTS.map((request_id) => ({ request_id, entries: 3n, settled_events: 1n })),
    );
    // acct-x has use-00 and use-10, acct-y the other 18: charged once each.
    expect(await scalar(sql`SELECT balance_micros FROM accounts WHERE account_id = 'acct-x'`)).toBe(-4000n);
    expect(await scalar(sql`SELECT balance_micros FROM accounts WHERE account_id = 'acct-y'`)).toBe(-36_000n);
    expect(await scalar(sql`SELECT sum(amount_micros)::bigint FROM ledger_entries`)).toBe(0n);

    const again = await run(["rerun", "--provider", "acme", "--wait", "0"]);
    expect(again.stdout).toMatch(/^matched +0$/m);
  });

  it("reconcile prints what it found and queues it again", async () => {
    const finishedBefore = finished;
    await ctx().db.execute(sql`
      INSERT INTO usage_events (request_id, account_id, provider_id, model, input_tokens, output_tokens,
        cached_input_tokens, cache_write_tokens, occurred_at, recorded_at)
      VALUES ('lost-1', 'acct-x', 'acme', 'acme-1', 1000, 500, 0, 0, now() - interval '1 hour',
        now() - interval '1 hour')`);
    const dry = await run(["reconcile", "--dry-run"]);
    expect(dry.stdout).toContain("usage without a settlement: lost-1 → would requeue\n");
    expect(dry.stdout).toContain("dry run: nothing was queued\n");
    const real = await run(["reconcile"]);
    expect(real.code).toBe(0);
    expect(real.stdout).toContain("usage without a settlement: lost-1 → added\n");
    expect(real.stdout).toMatch(/^usage rows without a settlement +1$/m);
    await untilFinished(finishedBefore + 1);
    expect(await scalar(sql`SELECT status FROM settlements WHERE request_id = 'lost-1'`)).toBe("settled");
    expect((await run(["reconcile"])).stdout).toContain("nothing lost");
  });
});
