import type { Config, ConfigStore } from "@heidrun/config";
import type { Db, PriceCache, SettleItem, SettleOutcome } from "@heidrun/db";
import { BatchTracing, type Logger, type Registry } from "@heidrun/observability";
import { Batcher, type QueueConnection, SETTLEMENT_QUEUE } from "@heidrun/queue";
import { type Job, UnrecoverableError, Worker, type WorkerOptions } from "bullmq";
import type pg from "pg";
import { createWorkerMetrics } from "./metrics";
import { settleItemOfJob } from "./processors";
import { type AfterCommitHook, SettleRunner } from "./settle-runner";

/** Something that runs beside the settlement worker for as long as it does (the expiry sweeper). */
export interface WorkerService {
  start(): unknown;
  stop(): Promise<unknown> | unknown;
}

export interface WorkerDeps {
  config: ConfigStore;
  log: Logger;
  registry: Registry;
  pool: pg.Pool;
  db: Db;
  /**
   * For BullMQ (`connectRedis(config, "worker")`, one Redis or a Cluster: maxRetriesPerRequest null). Not
   * closed by stop().
   */
  connection: QueueConnection;
  /** Started by start() before the first job, stopped by stop(). */
  priceCache: Pick<PriceCache, "resolve" | "byVersion" | "start" | "stop">;
  services?: WorkerService[];
  /** Test hook: runs after each batch commits, before its jobs are answered. */
  afterCommit?: AfterCommitHook;
  /** BullMQ options over the settings (tests shorten lockDuration and stalledInterval). */
  workerOptions?: Partial<WorkerOptions>;
  /**
   * Batch transactions one process runs at once (default 2: one writing while the next fills). More only
   * splits the same jobs into smaller batches that queue for the same row locks and the audit chain head.
   */
  maxConcurrentBatches?: number;
}

/** What a completed job returns (BullMQ stores it as JSON, so amounts are decimal strings). */
export type SettleJobResult =
  | { status: "settled"; totalCostMicros: string; priceVersion: string }
  | { status: "already_settled" };

export interface SettlementWorker {
  readonly worker: Worker;
  readonly batcher: Batcher<SettleItem, SettleOutcome>;
  start(): Promise<void>;
  /** Stops fetching, flushes the open batch, waits for its jobs (up to shutdownGraceMs), then closes. */
  stop(): Promise<void>;
}

function settleOptions(config: Config) {
  const { commission, roundingIncrementMicros } = config.settings;
  return { commission, roundingIncrementMicros };
}

/**
 * A settlement worker: a BullMQ Worker with high concurrency whose processors each await their item's
 * result from a shared batcher; the batcher hands batches to the settle runner (one transaction each). Any
 * number of these may run, in any number of processes: all state is in Redis and Postgres.
 */
export function createWorker(deps: WorkerDeps): SettlementWorker {
  const { config, log } = deps;
  const metrics = createWorkerMetrics(deps.registry);
  const runner = new SettleRunner({
    db: deps.db,
    log,
    options: () => ({ prices: deps.priceCache, ...settleOptions(config.current()) }),
    ...(deps.afterCommit ? { afterCommit: deps.afterCommit } : {}),
  });
  // Each job's span continues the trace of the call that queued it; each batch's span links them all.
  const tracing = new BatchTracing<SettleItem>();
  const batcher = new Batcher<SettleItem, SettleOutcome>({
    maxSize: () => config.current().settings.worker.batchSize,
    lingerMs: () => config.current().settings.worker.lingerMs,
    maxConcurrentFlushes: () => deps.maxConcurrentBatches ?? 2,
    flush: (items) => {
      metrics.batchSize.observe(items.length);
      return tracing.batch("settle batch", items, () => runner.flush(items));
    },
  });

  const processor = async (job: Job): Promise<SettleJobResult> => {
    let outcome: SettleOutcome;
    try {
      const item = settleItemOfJob(job.name, job.data);
      outcome = await tracing.job(`settle ${job.name}`, job.data.trace, item, (it) => batcher.add(it), {
        "messaging.message.id": job.id ?? "",
        "heidrun.request_id": item.requestId,
      });
    } catch (error) {
      metrics.jobs.inc({ outcome: error instanceof UnrecoverableError ? "failed" : "retried" });
      throw error;
    }
    metrics.jobs.inc({ outcome: outcome.status === "rejected" ? "failed" : outcome.status });
    switch (outcome.status) {
      case "settled":
        metrics.settleLatency.observe((Date.now() - outcome.occurredAt.getTime()) / 1000);
        return {
          status: "settled",
          totalCostMicros: outcome.totalCostMicros.toString(),
          priceVersion: outcome.priceVersion.toString(),
        };
      case "already_settled":
        return { status: "already_settled" };
      default:
        throw new UnrecoverableError(outcome.reason);
    }
  };

  const settings = config.current().settings;
  const worker = new Worker(SETTLEMENT_QUEUE, processor, {
    connection: deps.connection,
    prefix: settings.queue.prefix,
    concurrency: settings.worker.concurrency,
    autorun: false,
    // BullMQ fails a job found stalled more than once (its default maxStalledCount is 1): a usage whose workers
    // were killed twice would end in the failed set with nothing in Postgres to reconcile it from. Jobs are
    // idempotent, so a stalled job is run again as often as a failing one is retried.
    maxStalledCount: settings.queue.attempts,
    ...deps.workerOptions,
  });
  worker.on("error", (error) => log.error({ err: error }, "settlement worker error"));
  worker.on("failed", (job, error) => {
    if (job && error instanceof UnrecoverableError) {
      log.warn(
        { jobId: job.id, requestId: job.data?.requestId, reason: error.message },
        "settlement job failed",
      );
    }
  });
  const onConfigChange = (next: Config) => {
    worker.concurrency = next.settings.worker.concurrency;
  };

  let running: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const services = deps.services ?? [];

  async function stopNow(): Promise<void> {
    config.off("change", onConfigChange);
    const closing = worker.close();
    // The open batch goes out now instead of after its linger; jobs fetched meanwhile flush at once.
    const draining = batcher.drain();
    const graceMs = config.current().settings.worker.shutdownGraceMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      log.warn(
        { graceMs },
        "settlement jobs still running after the grace period; closing anyway (they will rerun)",
      );
      await worker.close(true);
    }
    await draining;
    await running;
    for (const service of [...services].reverse()) await service.stop();
    await deps.priceCache.stop();
  }

  return {
    worker,
    batcher,
    async start() {
      await deps.priceCache.start();
      for (const service of services) await service.start();
      config.on("change", onConfigChange);
      running = worker
        .run()
        .catch((error: unknown) => log.error({ err: error }, "settlement worker stopped"));
      await worker.waitUntilReady();
      log.info(
        { queue: SETTLEMENT_QUEUE, prefix: settings.queue.prefix, concurrency: worker.concurrency },
        "settlement worker started",
      );
    },
    stop() {
      stopping ??= stopNow();
      return stopping;
    },
  };
}
