import { sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";

/** Where requeued settlements stand, counted from their rows. */
export interface RerunOutcomes {
  settled: number;
  /** Failed again after the rerun started (its rerun job ran and still could not settle it). */
  stillFailing: number;
  /** Not run yet: still FAILED from before the rerun started. */
  pending: number;
}

/**
 * Follows requeued request ids: a row that is settled is done; a FAILED row whose failure is newer than
 * `since` (the rerun's start, database clock) failed on its rerun job; the rest are waiting for a worker.
 */
export async function rerunOutcomes(
  db: DbOrTx,
  requestIds: readonly string[],
  since: Date,
): Promise<RerunOutcomes> {
  const outcomes: RerunOutcomes = { settled: 0, stillFailing: 0, pending: 0 };
  if (requestIds.length === 0) return outcomes;
  const result = await db.execute<{ settled: number; failing: number; total: number }>(sql`
    SELECT count(*) FILTER (WHERE status = 'settled')::int AS settled,
      count(*) FILTER (WHERE status = 'failed' AND settled_at >= ${since.toISOString()}::timestamptz)::int AS failing,
      count(*)::int AS total
    FROM settlements WHERE request_id = ANY(${sql.param(requestIds)}::text[])`);
  const row = result.rows[0]!;
  outcomes.settled = row.settled;
  outcomes.stillFailing = row.failing;
  outcomes.pending = requestIds.length - row.settled - row.failing;
  return outcomes;
}
