import { DomainError } from "@heidrun/core";
import { sql } from "drizzle-orm";
import { requestConflict } from "./accounts";
import { appendAudit } from "./audit";
import type { Db, DbOrTx } from "./pool";
import { hashedFingerprint } from "./preauths-record";
import type { SettlementRequeuer } from "./rerun-queue";
import {
  countFailedSettlements,
  cursorOf,
  databaseNow,
  type FailedCursor,
  requeueItemOf,
  selectFailedPage,
  settledAmong,
  utcMillisText,
} from "./rerun-select";
import type { RerunCounts, RerunFilters, RerunRequest, RerunResult } from "./rerun-types";

export * from "./rerun-queue";
export * from "./rerun-select";
export * from "./rerun-status";
export * from "./rerun-types";

export const DEFAULT_RERUN_PAGE_SIZE = 500;

function filtersOf(request: RerunFilters): RerunFilters {
  return {
    providerId: request.providerId || undefined,
    since: request.since,
    until: request.until,
    reasonContains: request.reasonContains || undefined,
    reason: request.reason,
    limit: request.limit || undefined,
  };
}

function validate(request: RerunRequest): void {
  if (!request.requestId) throw DomainError.invalid("request_id", "is required");
  if (!request.actor) throw DomainError.invalid("actor", "is required");
  const { limit, pageSize } = request;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0))
    throw DomainError.invalid("limit", `must be a non-negative integer, got ${limit}`);
  if (pageSize !== undefined && (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 5000))
    throw DomainError.invalid("page_size", `must be from 1 to 5000, got ${pageSize}`);
  // [since, until): an empty range (since = until) is valid and matches nothing.
  if (request.since && request.until && request.since > request.until)
    throw DomainError.invalid("until", "must not be before since");
}

interface StoredRerun extends Record<string, unknown> {
  fingerprint: string;
  matched: bigint;
  requeued: bigint;
  created_at: string;
}

async function storedRerun(db: DbOrTx, requestId: string): Promise<StoredRerun | undefined> {
  const result = await db.execute<StoredRerun>(sql`
    SELECT fingerprint, matched, requeued,
      ${utcMillisText("created_at")} AS created_at
    FROM rerun_requests WHERE request_id = ${requestId}`);
  return result.rows[0];
}

function replay(requestId: string, stored: StoredRerun, fingerprint: string): RerunResult {
  if (stored.fingerprint !== fingerprint) throw requestConflict(requestId);
  return {
    matched: stored.matched,
    requeued: stored.requeued,
    alreadySettled: 0n,
    inFlight: 0n,
    replayed: true,
    startedAt: new Date(stored.created_at),
  };
}

/** The filters as the audit trail and rerun_requests record them (dates as ISO text, unset ones left out). */
function recordedFilters(filters: RerunFilters): Record<string, string | number> {
  const recorded: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(filters)) {
    if (value instanceof Date) recorded[key] = value.toISOString();
    else if (value !== undefined) recorded[key] = value;
  }
  return recorded;
}

/**
 * RerunFailedSettlements, `heidrun settlements rerun` and the dashboard's rerun button: selects FAILED
 * settlements in keyset pages and requeues each page through the requeuer. Idempotent by request_id (the
 * rerun_requests row holds the first answer); each real run is audited as settlement.rerun_requested.
 *
 * Settling twice is impossible however many reruns race: a job settles a FAILED row only through
 * `UPDATE … WHERE status = 'failed'` (settle-sql.ts), so of two jobs for one request the second finds it
 * settled and changes nothing; racing requeues also mostly meet each other's job (in flight, deduplicated id).
 */
export async function rerunFailedSettlements(
  db: Db,
  requeuer: SettlementRequeuer,
  request: RerunRequest,
): Promise<RerunResult> {
  validate(request);
  const filters = filtersOf(request);
  const dryRun = request.dryRun === true;
  const fingerprint = hashedFingerprint({ ...filters, dryRun });
  const earlier = await storedRerun(db, request.requestId);
  if (earlier) return replay(request.requestId, earlier, fingerprint);

  const pageSize = request.pageSize ?? DEFAULT_RERUN_PAGE_SIZE;
  const limit = filters.limit ?? Number.POSITIVE_INFINITY;
  const startedAt = await databaseNow(db);
  const counts: RerunCounts = { matched: 0n, requeued: 0n, alreadySettled: 0n, inFlight: 0n };
  let cursor: FailedCursor | undefined;
  let taken = 0;
  for (;;) {
    const room = limit - taken;
    if (room <= 0) break;
    const rows = await selectFailedPage(db, filters, startedAt, cursor, Math.min(pageSize, room));
    if (rows.length === 0) break;
    taken += rows.length;
    counts.matched += BigInt(rows.length);
    cursor = cursorOf(rows[rows.length - 1]!);
    const pageQueued: string[] = [];
    if (!dryRun) {
      const settled = await settledAmong(
        db,
        rows.map((row) => row.request_id),
      );
      counts.alreadySettled += BigInt(settled.size);
      const items = rows
        .filter((row) => !settled.has(row.request_id))
        .map((row) => requeueItemOf(row, request.actor));
      const outcomes = await requeuer.requeue(items);
      outcomes.forEach((outcome, i) => {
        if (outcome === "skipped") return;
        if (outcome === "in_flight") counts.inFlight += 1n;
        else counts.requeued += 1n;
        pageQueued.push(items[i]!.requestId);
      });
    }
    request.onPage?.({ ...counts, pageQueued });
    if (rows.length < Math.min(pageSize, room)) break;
  }
  if (dryRun) return { ...counts, replayed: false, startedAt };

  return db.transaction(async (tx) => {
    const inserted = await tx.execute(sql`
      INSERT INTO rerun_requests (request_id, fingerprint, filters, matched, requeued, actor)
      VALUES (${request.requestId}, ${fingerprint}, ${JSON.stringify(recordedFilters(filters))}::jsonb,
        ${counts.matched}, ${counts.requeued}, ${request.actor})
      ON CONFLICT (request_id) DO NOTHING
      RETURNING request_id`);
    if (inserted.rows.length === 0) {
      // A twin with the same request_id finished first: its answer is the answer (its jobs and ours are one set).
      return replay(request.requestId, (await storedRerun(tx, request.requestId))!, fingerprint);
    }
    await appendAudit(tx, [
      {
        type: "settlement.rerun_requested",
        requestId: request.requestId,
        providerId: filters.providerId ?? null,
        actor: request.actor,
        data: { filters: recordedFilters(filters), ...counts },
      },
    ]);
    return { ...counts, replayed: false, startedAt };
  });
}

/** How many a rerun with these filters would take now (for a progress bar's total). */
export async function countRerunCandidates(db: DbOrTx, filters: RerunFilters): Promise<bigint> {
  const normalized = filtersOf(filters);
  return countFailedSettlements(db, normalized, await databaseNow(db), normalized.limit);
}

export interface RecordedRerun {
  requestId: string;
  matched: bigint;
  requeued: bigint;
  actor: string;
  createdAt: Date;
}

/** A rerun as rerun_requests recorded it (the dashboard shows it after the button). */
export async function findRerunRequest(db: DbOrTx, requestId: string): Promise<RecordedRerun | undefined> {
  const result = await db.execute<{
    matched: bigint;
    requeued: bigint;
    actor: string;
    created_at: string;
  }>(sql`
    SELECT matched, requeued, actor, ${utcMillisText("created_at")} AS created_at
    FROM rerun_requests WHERE request_id = ${requestId}`);
  const row = result.rows[0];
  return row
    ? {
        requestId,
        matched: row.matched,
        requeued: row.requeued,
        actor: row.actor,
        createdAt: new Date(row.created_at),
      }
    : undefined;
}
