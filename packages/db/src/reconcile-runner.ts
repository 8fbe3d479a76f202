import type { Logger, Registry } from "@heidrun/observability";
import { type ProducerSettings, type QueueConnection, SettlementProducer } from "@heidrun/queue";
import { registerQueueGauges } from "./overview-metrics";
import type { DbOrTx } from "./pool";
import { type ReconcileOptions, type ReconcileReport, reconcileSettlements } from "./reconcile";
import { SettlementRequeuer } from "./rerun-queue";

export interface ReconcilerOptions {
  db: DbOrTx;
  requeuer: SettlementRequeuer;
  log: Logger;
  /** Read before each wait, so a settings reload applies (settings.worker.reconcileIntervalMs). */
  intervalMs: () => number;
  /** Read per run (settings.queue.keepFailedSeconds and the rest). */
  options: () => ReconcileOptions;
  /** Called after each run (tests await it). */
  onRun?: (report: ReconcileReport) => void;
}

export interface Reconciler {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs reconcileSettlements every interval, one run at a time, first after one interval (a worker that just
 * started has its own jobs to take first). Findings are logged as warnings: each is a job Redis lost.
 */
export function startReconciler(options: ReconcilerOptions): Reconciler {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const runOnce = async () => {
    try {
      const report = await reconcileSettlements(options.db, options.requeuer, options.options());
      if (report.findings.length > 0) {
        const byKind: Record<string, number> = {};
        for (const finding of report.findings) byKind[finding.kind] = (byKind[finding.kind] ?? 0) + 1;
        options.log.warn(
          { found: byKind, requestIds: report.findings.slice(0, 20).map((f) => f.requestId) },
          "reconcile: queued settlements whose job was lost",
        );
      }
      options.onRun?.(report);
    } catch (error) {
      options.log.error({ err: error }, "reconcile run failed; next run at the next interval");
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = runOnce().finally(schedule);
    }, options.intervalMs());
    timer.unref();
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** The settings the worker's reconciler reads (a ConfigStore of @heidrun/config satisfies it). */
export interface ReconcilerConfig {
  current(): {
    settings: {
      worker: { reconcileIntervalMs: number };
      queue: Omit<ProducerSettings, "idempotencyWindowSeconds"> & { prefix: string };
      idempotencyWindowSeconds: number;
    };
  };
}

export interface ReconcilerServiceDeps {
  config: ReconcilerConfig;
  db: DbOrTx;
  /** The worker's Redis connection, one Redis or a Cluster (not closed by stop()). */
  connection: QueueConnection;
  log: Logger;
  /** When given, the queue gauges (heidrun_queue_jobs, …) are registered on it as well. */
  registry?: Registry;
  onRun?: (report: ReconcileReport) => void;
}

/**
 * Everything a worker process runs beside settling, as one service for createWorker's `services`: the periodic
 * reconciler (settings.worker.reconcileIntervalMs) and the queue gauges of its /metrics.
 */
export function reconcilerService(deps: ReconcilerServiceDeps): { start(): void; stop(): Promise<void> } {
  const settings = () => deps.config.current().settings;
  const producer = new SettlementProducer({
    connection: deps.connection,
    prefix: settings().queue.prefix,
    settings: () => ({ ...settings().queue, idempotencyWindowSeconds: settings().idempotencyWindowSeconds }),
  });
  if (deps.registry) registerQueueGauges(deps.registry, () => [producer.queue]);
  let reconciler: Reconciler | undefined;
  return {
    start() {
      reconciler ??= startReconciler({
        db: deps.db,
        requeuer: new SettlementRequeuer(producer),
        log: deps.log,
        intervalMs: () => settings().worker.reconcileIntervalMs,
        options: () => ({ keepFailedSeconds: settings().queue.keepFailedSeconds, actor: "worker-reconcile" }),
        ...(deps.onRun ? { onRun: deps.onRun } : {}),
      });
    },
    async stop() {
      await reconciler?.stop();
      await producer.close();
    },
  };
}
