import { Counter, Histogram, LATENCY_BUCKETS, type Registry } from "@heidrun/observability";

export interface WorkerMetrics {
  batchSize: Histogram;
  /** occurred_at → settled (committed), in seconds. */
  settleLatency: Histogram;
  /** Jobs by outcome: settled, already_settled (a repeat), failed (a FAILED row or unusable job), retried. */
  jobs: Counter<"outcome">;
}

/** One set per registry (prom-client refuses a second registration of a name). */
export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  return {
    batchSize: new Histogram({
      name: "heidrun_settle_batch_size",
      help: "Jobs per settlement batch (one Postgres transaction)",
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    settleLatency: new Histogram({
      name: "heidrun_settle_latency_seconds",
      help: "From a usage's occurred_at to the commit of its settlement",
      buckets: [...LATENCY_BUCKETS, 30, 60, 300, 3600],
      registers: [registry],
    }),
    jobs: new Counter({
      name: "heidrun_settle_jobs_total",
      help: "Settlement jobs by outcome: settled, already_settled, failed, retried",
      labelNames: ["outcome"],
      registers: [registry],
    }),
  };
}
