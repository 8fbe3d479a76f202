import { createRegistry, silentLogger } from "@heidrun/observability";
import { jobIdFor, SETTLEMENT_QUEUE, SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { UnrecoverableError, Worker } from "bullmq";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { creditAccount } from "./accounts";
import { authorizeHold, captureHold, hashedFingerprint } from "./preauths";
import { type ReconcileReport, reconcilerService, reconcileSettlements, startReconciler } from "./reconcile";
import { SettlementRequeuer } from "./rerun-queue";

const ctx = useTestContext();
let producer: SettlementProducer;
let requeuer: SettlementRequeuer;
const KEEP_FAILED_SECONDS = 3600;

const reconcile = (extra: { dryRun?: boolean } = {}) =>
  reconcileSettlements(ctx().db, requeuer, { keepFailedSeconds: KEEP_FAILED_SECONDS, minAgeMs: 0, ...extra });

async function capture(name: string): Promise<{ requestId: string; preauthId: string }> {
  const { db } = ctx();
  const usage = { inputTokens: 10n, outputTokens: 5n, cachedInputTokens: 0n, cacheWriteTokens: 0n };
  const hold = await authorizeHold(db, {
    requestId: `${name}-auth`,
    fingerprint: hashedFingerprint({ name }),
    accountId: "acct-r",
    providerId: "openai",
    model: "gpt-4o-mini",
    estimatedCostMicros: 100n,
    estimatedInputTokens: 10n,
    maxOutputTokens: 10n,
    priceVersion: 1n,
    priceVersionId: null,
    ttlSeconds: 600,
    actor: "test",
  });
  const preauthId = hold.preauth.preauthId;
  await captureHold(db, {
    requestId: `${name}-cap`,
    preauthId,
    usage,
    capturedCostMicros: 50n,
    actor: "test",
  });
  // The reconciler reads the database clock in whole milliseconds: a capture of this very millisecond would
  // not be "before" it yet.
  await db.execute(sql`UPDATE preauths SET captured_at = captured_at - interval '1 second'
    WHERE preauth_id = ${preauthId}`);
  return { requestId: `${name}-cap`, preauthId };
}

async function queueCapture(c: { requestId: string; preauthId: string }): Promise<void> {
  await producer.enqueueWithoutWindow([
    { requestId: c.requestId, job: { name: "settle-capture", data: { ...c, actor: "ingress" } } },
  ]);
}

async function failedRow(requestId: string, failedSecondsAgo: number): Promise<void> {
  await ctx().db.execute(sql`
    INSERT INTO settlements (request_id, account_id, provider_id, model, status, failure_reason, input_tokens,
      output_tokens, cached_input_tokens, cache_write_tokens, occurred_at, settled_at)
    VALUES (${requestId}, 'acct-r', 'openai', 'gpt-4o-mini', 'failed', 'no price', 10, 5, 0, 0,
      now() - interval '1 day', now() - make_interval(secs => ${failedSecondsAgo}))`);
}

const summary = (report: ReconcileReport) =>
  report.findings.map((f) => `${f.kind} ${f.requestId} ${f.action}`).sort();

beforeAll(async () => {
  producer = new SettlementProducer({
    connection: ctx().newRedis(),
    prefix: ctx().redisPrefix,
    settings: () => ({
      attempts: 3,
      backoffMs: 100,
      keepCompletedSeconds: 3600,
      keepFailedSeconds: KEEP_FAILED_SECONDS,
      idempotencyWindowSeconds: 3600,
    }),
  });
  requeuer = new SettlementRequeuer(producer);
  await creditAccount(ctx().db, {
    requestId: "fund-r",
    accountId: "acct-r",
    amountMicros: 10_000n,
    reference: "",
    actor: "test",
  });
});
beforeEach(async () => {
  await producer.queue.obliterate({ force: true });
  await ctx().db.execute(sql`DELETE FROM settlements`);
  await ctx().db.execute(sql`DELETE FROM usage_events`);
  await ctx().db.execute(sql`DELETE FROM preauths`);
});
afterAll(async () => {
  await producer.close();
});

describe("reconcileSettlements", () => {
  it("re-queues a capture whose job was deleted from Redis, and leaves one whose job is there alone", async () => {
    const lost = await capture("lost");
    const kept = await capture("kept");
    await queueCapture(lost);
    await queueCapture(kept);
    await producer.queue.remove(jobIdFor(lost.requestId));
    expect(await producer.queue.getJob(jobIdFor(lost.requestId))).toBeUndefined();

    expect(summary(await reconcile({ dryRun: true }))).toEqual(["capture_unsettled lost-cap found"]);
    expect(await producer.queue.getJob(jobIdFor(lost.requestId))).toBeUndefined();

    const report = await reconcile();
    expect(report.findings).toEqual([
      { kind: "capture_unsettled", requestId: "lost-cap", preauthId: lost.preauthId, action: "added" },
    ]);
    const job = await producer.queue.getJob(jobIdFor(lost.requestId));
    expect(job?.name).toBe("settle-capture");
    expect(job?.data).toEqual({ requestId: "lost-cap", preauthId: lost.preauthId, actor: "reconcile" });
    expect(await job?.getState()).toBe("waiting");
    // Found again now: its job is queued, so nothing is lost.
    expect(summary(await reconcile())).toEqual([]);
  });

  it("re-queues a FAILED row whose failed job is gone while BullMQ should still keep it, not an older one", async () => {
    await failedRow("f-recent", 60);
    await failedRow("f-old", KEEP_FAILED_SECONDS + 600);
    await failedRow("f-queued", 60);
    await producer.queue.add("track-usage", {}, { jobId: jobIdFor("f-queued"), delay: 60_000 });
    expect(summary(await reconcile())).toEqual(["failed_without_job f-recent added"]);
    expect(await producer.queue.getJobState("req~f-recent~r1")).toBe("waiting");
  });

  it("re-queues usage that has no settlement", async () => {
    await ctx().db.execute(sql`
      INSERT INTO usage_events (request_id, account_id, provider_id, model, input_tokens, output_tokens,
        cached_input_tokens, cache_write_tokens, occurred_at, recorded_at)
      VALUES ('u-1', 'acct-r', 'openai', 'gpt-4o-mini', 7, 3, 0, 0, '2026-03-01T00:00:00.000Z',
        now() - interval '1 second')`);
    await ctx().db.execute(sql`UPDATE usage_events SET occurred_at = now() - interval '1 hour'`);
    expect(summary(await reconcile())).toEqual(["usage_unsettled u-1 added"]);
    const job = await producer.queue.getJob(jobIdFor("u-1"));
    expect(job?.name).toBe("track-usage");
    expect(job?.data).toMatchObject({ requestId: "u-1", accountId: "acct-r", usage: { inputTokens: "7" } });
  });

  it("runs periodically until stopped: the first run finds the lost capture, the next finds nothing", async () => {
    const lost = await capture("periodic");
    const runs: ReconcileReport[] = [];
    let wake: () => void = () => {};
    const reconciler = startReconciler({
      db: ctx().db,
      requeuer,
      log: silentLogger(),
      intervalMs: () => 20,
      options: () => ({ keepFailedSeconds: KEEP_FAILED_SECONDS, minAgeMs: 0 }),
      onRun: (report) => {
        runs.push(report);
        wake();
      },
    });
    while (runs.length < 2) await new Promise<void>((resolve) => (wake = resolve));
    await reconciler.stop();
    expect(summary(runs[0]!)).toEqual(["capture_unsettled periodic-cap added"]);
    expect(summary(runs[1]!)).toEqual([]);
    expect(await producer.queue.getJobState(jobIdFor(lost.requestId))).toBe("waiting");
  });

  it("as a worker service: reconciles on the settings' interval and exposes the queue gauges", async () => {
    const lost = await capture("service");
    const registry = createRegistry();
    const settings = {
      worker: { reconcileIntervalMs: 20 },
      queue: {
        prefix: ctx().redisPrefix,
        attempts: 3,
        backoffMs: 100,
        keepCompletedSeconds: 3600,
        keepFailedSeconds: KEEP_FAILED_SECONDS,
      },
      idempotencyWindowSeconds: 3600,
    };
    let wake: () => void = () => {};
    const reports: ReconcileReport[] = [];
    const service = reconcilerService({
      config: { current: () => ({ settings }) },
      db: ctx().db,
      connection: ctx().newRedis({ forWorker: true }),
      log: silentLogger(),
      registry,
      onRun: (report) => {
        reports.push(report);
        wake();
      },
    });
    service.start();
    while (reports.length < 1) await new Promise<void>((resolve) => (wake = resolve));
    await service.stop();
    // Reports are taken with minAge 60 s: the capture of a moment ago is not lost yet.
    expect(reports[0]!.findings).toEqual([]);
    expect(await producer.queue.getJobState(jobIdFor(lost.requestId))).toBe("unknown");
    const text = await registry.metrics();
    expect(text).toContain('heidrun_queue_jobs{queue="settlements",state="waiting"} 0\n');
    expect(text).toContain("heidrun_queue_up 1\n");
  });
});

describe("post-paid usage whose job gave up while PostgreSQL was down", () => {
  /** Runs every queued job through a real BullMQ worker that fails the way the settlement worker does. */
  async function failAll(expected: number): Promise<void> {
    let finished = 0;
    let done: () => void = () => {};
    const allFailed = new Promise<void>((resolve) => (done = resolve));
    const worker = new Worker(
      SETTLEMENT_QUEUE,
      async (job) => {
        if (job.data.requestId === "bad-payload") throw new UnrecoverableError("invalid track-usage job");
        throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
      },
      { connection: ctx().newRedis({ forWorker: true }), prefix: ctx().redisPrefix },
    );
    worker.on("failed", (job) => {
      // Only final failures: an attempt that will be retried leaves finishedOn unset.
      if (job?.finishedOn !== undefined && ++finished === expected) done();
    });
    await allFailed;
    await worker.close();
  }

  const usageJob = (requestId: string) => ({
    requestId,
    fingerprint: requestId,
    job: {
      name: "track-usage" as const,
      data: {
        requestId,
        accountId: "acct-r",
        providerId: "openai",
        model: "gpt-4o-mini",
        usage: { inputTokens: "7", outputTokens: "3", cachedInputTokens: "0", cacheWriteTokens: "0" },
        occurredAt: new Date().toISOString(),
        actor: "ingress",
      },
    },
  });

  it("finds their failed jobs, retries them in place, and leaves failures that have a reason on record", async () => {
    const lostCapture = await capture("pg-down-cap");
    await producer.enqueue(["pg-down-1", "pg-down-2", "bad-payload", "no-price"].map(usageJob));
    await queueCapture(lostCapture);
    await failAll(5);
    // The worker could write this one's reason (a missing price): an operator's rerun, not reconcile's.
    await failedRow("no-price", 60);

    expect(summary(await reconcile({ dryRun: true }))).toEqual([
      "capture_unsettled pg-down-cap-cap found",
      "usage_failed_job pg-down-1 found",
      "usage_failed_job pg-down-2 found",
    ]);
    expect(await producer.queue.getJobState(jobIdFor("pg-down-1"))).toBe("failed");

    expect(summary(await reconcile())).toEqual([
      "capture_unsettled pg-down-cap-cap retried",
      "usage_failed_job pg-down-1 retried",
      "usage_failed_job pg-down-2 retried",
    ]);
    for (const requestId of ["pg-down-1", "pg-down-2", lostCapture.requestId]) {
      const job = await producer.queue.getJob(jobIdFor(requestId));
      expect(await job?.getState()).toBe("waiting");
      expect(job?.attemptsMade).toBe(0);
    }
    expect(await producer.queue.getJobState(jobIdFor("bad-payload"))).toBe("failed");
    expect(await producer.queue.getJobState(jobIdFor("no-price"))).toBe("failed");
    // Queued again, so nothing is lost: the next run finds nothing.
    expect(summary(await reconcile())).toEqual([]);
  });
});
