import type { Logger } from "@heidrun/observability";
import type { DbOrTx } from "./pool";
import { type ReconcileOptions, type ReconcileReport, reconcileSettlements } from "./reconcile";
import type { SettlementRequeuer } from "./rerun-queue";

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

/** The reconciler as a worker service (`services` of createWorker): started and stopped with the worker. */
export function reconcilerService(options: ReconcilerOptions): { start(): void; stop(): Promise<void> } {
  let reconciler: Reconciler | undefined;
  return {
    start() {
      reconciler ??= startReconciler(options);
    },
    async stop() {
      await reconciler?.stop();
    },
  };
}
