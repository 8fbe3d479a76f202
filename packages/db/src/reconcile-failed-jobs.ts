import { sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";
import type { FailedSettlementJob, SettlementRequeuer } from "./rerun-queue";

export interface FailedUsageJobScan {
  /** Only jobs that failed at or after `from` and before `before` (a job failing right now may be retried). */
  from: Date;
  before: Date;
  /** At most this many entries of the failed set are read per run (newest first). */
  maxScanned: number;
  maxFound: number;
  pageSize: number;
}

async function requestsWithSettlement(db: DbOrTx, requestIds: readonly string[]): Promise<Set<string>> {
  const result = await db.execute<{ request_id: string }>(sql`
    SELECT request_id FROM settlements WHERE request_id = ANY(${sql.param([...requestIds])}::text[])`);
  return new Set(result.rows.map((row) => row.request_id));
}

/**
 * Post-paid usage whose job gave up while PostgreSQL was unreachable: nothing of it reached PostgreSQL, so
 * the failed job is its only copy and the sweeps over PostgreSQL cannot see it. These are the track-usage jobs
 * of BullMQ's failed set whose retries ran out and whose request has no settlement row (a failure the worker
 * could record, such as a missing price, wrote a FAILED row, which an operator reruns). Captures are left to
 * the capture sweep: their pre-auth row finds them.
 */
export async function findFailedUsageJobs(
  db: DbOrTx,
  requeuer: Pick<SettlementRequeuer, "failedJobs">,
  scan: FailedUsageJobScan,
): Promise<FailedSettlementJob[]> {
  const found: FailedSettlementJob[] = [];
  let start = 0;
  while (start < scan.maxScanned && found.length < scan.maxFound) {
    const left = scan.maxScanned - start;
    const count = Math.min(left, scan.pageSize);
    const page = await requeuer.failedJobs(start, count);
    start += page.scanned;
    const candidates = page.jobs.filter(
      (job) =>
        job.name === "track-usage" &&
        job.retriesExhausted &&
        job.finishedOn >= scan.from.getTime() &&
        job.finishedOn <= scan.before.getTime(),
    );
    if (candidates.length > 0) {
      const settled = await requestsWithSettlement(
        db,
        candidates.map((job) => job.requestId),
      );
      for (const job of candidates) {
        if (!settled.has(job.requestId) && found.length < scan.maxFound) found.push(job);
      }
    }
    const oldest = page.jobs.at(-1)?.finishedOn;
    // Newest first: once a page reaches back past `from`, the rest is older still.
    if (page.scanned < count || (oldest !== undefined && oldest < scan.from.getTime())) break;
  }
  return found;
}
