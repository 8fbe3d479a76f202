import type { AnyJob } from "@heidrun/queue";
import { type SQL, sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";
import type { RequeueItem } from "./rerun-queue";
import type { RerunFilters } from "./rerun-types";

/**
 * A timestamptz as ISO-8601 UTC text with milliseconds: drizzle's execute() returns timestamps as text in the
 * session's format, so reads name the format and `new Date()` parses it exactly (the columns keep milliseconds).
 */
export function utcMillisText(expression: string): SQL {
  return sql.raw(`to_char((${expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
}

/**
 * A failure reason without its instance details, so alike failures form one group: timestamps become "…", and
 * so do the ids after "pre-auth" and "request" ("no price for provider p and model m … at …").
 */
export function reasonGroup(column: SQL): SQL {
  const timestamp = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z";
  const id = "(pre-auth|request) [A-Za-z0-9._:~-]+";
  return sql`regexp_replace(regexp_replace(coalesce(${column}, ''), ${timestamp}, '…', 'g'), ${id}, '\\1 …', 'g')`;
}

/** Where a page ends: the last row's (settled_at, request_id), ascending. */
export interface FailedCursor {
  failedAt: string;
  requestId: string;
}

interface FailedRow extends Record<string, unknown> {
  request_id: string;
  preauth_id: string | null;
  account_id: string;
  provider_id: string;
  model: string;
  input_tokens: bigint;
  output_tokens: bigint;
  cached_input_tokens: bigint;
  cache_write_tokens: bigint;
  occurred_at: string;
  failed_at: string;
  attempts: number;
}

function filterConditions(filters: RerunFilters, before: Date): SQL[] {
  const where: SQL[] = [sql`s.status = 'failed'`];
  if (filters.providerId) where.push(sql`s.provider_id = ${filters.providerId}`);
  if (filters.since) where.push(sql`s.settled_at >= ${filters.since.toISOString()}::timestamptz`);
  if (filters.until) where.push(sql`s.settled_at < ${filters.until.toISOString()}::timestamptz`);
  // A row that fails again while this rerun runs moves to settled_at = now(): without this bound a scan in
  // settled_at order could meet it again (and requeue it again) forever.
  where.push(sql`s.settled_at < ${before.toISOString()}::timestamptz`);
  if (filters.reasonContains)
    where.push(sql`strpos(lower(s.failure_reason), lower(${filters.reasonContains})) > 0`);
  if (filters.reason !== undefined)
    where.push(sql`${reasonGroup(sql`s.failure_reason`)} = ${filters.reason}`);
  return where;
}

/** The database clock, the one every settled_at comes from. */
export async function databaseNow(db: DbOrTx): Promise<Date> {
  const result = await db.execute<{ now: string }>(sql`SELECT ${utcMillisText("clock_timestamp()")} AS now`);
  return new Date(result.rows[0]!.now);
}

/** How many FAILED settlements match (for a progress bar), at most `cap`. */
export async function countFailedSettlements(
  db: DbOrTx,
  filters: RerunFilters,
  before: Date,
  cap?: number,
): Promise<bigint> {
  const where = sql.join(filterConditions(filters, before), sql` AND `);
  const limited = cap ? sql`LIMIT ${cap}` : sql``;
  const result = await db.execute<{ n: bigint }>(
    sql`SELECT count(*)::bigint AS n FROM (SELECT 1 FROM settlements s WHERE ${where} ${limited}) matched`,
  );
  return result.rows[0]!.n;
}

/**
 * One keyset page of FAILED settlements in (settled_at, request_id) order, the order of the partial index on
 * failed rows. The usage comes from the usage_events row when there is one (what the worker settles), else
 * from the settlement row (a failure recorded before the usage row was written).
 */
export async function selectFailedPage(
  db: DbOrTx,
  filters: RerunFilters,
  before: Date,
  after: FailedCursor | undefined,
  pageSize: number,
): Promise<FailedRow[]> {
  const where = filterConditions(filters, before);
  if (after) {
    where.push(sql`(s.settled_at, s.request_id) > (${after.failedAt}::timestamptz, ${after.requestId})`);
  }
  const result = await db.execute<FailedRow>(sql`
    SELECT s.request_id, s.preauth_id, s.attempts, ${utcMillisText("s.settled_at")} AS failed_at,
      coalesce(u.account_id, s.account_id) AS account_id, coalesce(u.provider_id, s.provider_id) AS provider_id,
      coalesce(u.model, s.model) AS model, coalesce(u.input_tokens, s.input_tokens) AS input_tokens,
      coalesce(u.output_tokens, s.output_tokens) AS output_tokens,
      coalesce(u.cached_input_tokens, s.cached_input_tokens) AS cached_input_tokens,
      coalesce(u.cache_write_tokens, s.cache_write_tokens) AS cache_write_tokens,
      ${utcMillisText("coalesce(u.occurred_at, s.occurred_at)")} AS occurred_at
    FROM settlements s LEFT JOIN usage_events u ON u.request_id = s.request_id
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY s.settled_at, s.request_id
    LIMIT ${pageSize}`);
  return result.rows;
}

export function cursorOf(row: FailedRow): FailedCursor {
  return { failedAt: row.failed_at, requestId: row.request_id };
}

/** The job that settles a FAILED row again: a capture from its pre-auth, post-paid usage from its usage. */
export function jobOfFailedRow(row: FailedRow, actor: string): AnyJob {
  if (row.preauth_id !== null) {
    return {
      name: "settle-capture",
      data: { requestId: row.request_id, preauthId: row.preauth_id, actor },
    };
  }
  return {
    name: "track-usage",
    data: {
      requestId: row.request_id,
      accountId: row.account_id,
      providerId: row.provider_id,
      model: row.model,
      usage: {
        inputTokens: row.input_tokens.toString(),
        outputTokens: row.output_tokens.toString(),
        cachedInputTokens: row.cached_input_tokens.toString(),
        cacheWriteTokens: row.cache_write_tokens.toString(),
      },
      occurredAt: row.occurred_at,
      actor,
    },
  };
}

export function requeueItemOf(row: FailedRow, actor: string): RequeueItem {
  return { requestId: row.request_id, attempts: row.attempts, job: jobOfFailedRow(row, actor) };
}

/** Of these request ids, the ones whose settlement is (now) settled. */
export async function settledAmong(db: DbOrTx, requestIds: readonly string[]): Promise<Set<string>> {
  if (requestIds.length === 0) return new Set();
  const result = await db.execute<{ request_id: string }>(sql`
    SELECT request_id FROM settlements
    WHERE request_id = ANY(${sql.param(requestIds)}::text[]) AND status = 'settled'`);
  return new Set(result.rows.map((row) => row.request_id));
}
