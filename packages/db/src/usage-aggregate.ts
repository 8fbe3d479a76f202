import { type SQL, sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";
import { utcIso } from "./settle-sql";

/** `all`: one bucket for the whole range, starting at `from` (or at the earliest usage when from is unset). */
export type UsageGranularity = "hour" | "day" | "month" | "all";
export type UsageGroupBy = "provider" | "account" | "model";

export interface UsageAggregateQuery {
  providerId?: string;
  accountId?: string;
  model?: string;
  /** occurred_at in [from, to) */
  from?: Date;
  to?: Date;
  granularity: UsageGranularity;
  groupBy: readonly UsageGroupBy[];
}

/** One bucket; a dimension not grouped by is "". */
export interface UsageAggregateRow {
  bucketStart: Date;
  providerId: string;
  accountId: string;
  model: string;
  requestCount: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  cachedInputTokens: bigint;
  cacheWriteTokens: bigint;
  totalCostMicros: bigint;
}

const HOUR_MS = 3_600_000;
const TRUNC_UNITS = { hour: "'hour'", day: "'day'", month: "'month'" } as const;

function hourFloor(at: Date): Date {
  const ms = at.getTime();
  return new Date(ms - (((ms % HOUR_MS) + HOUR_MS) % HOUR_MS));
}

function hourCeil(at: Date): Date {
  const floor = hourFloor(at);
  return floor.getTime() === at.getTime() ? floor : new Date(floor.getTime() + HOUR_MS);
}

const ts = (at: Date): SQL => sql`${at.toISOString()}::timestamptz`;

interface AggregateRow extends Record<string, unknown> {
  bucket_start: string;
  provider_id: string;
  account_id: string;
  model: string;
  request_count: bigint;
  input_tokens: bigint;
  output_tokens: bigint;
  cached_input_tokens: bigint;
  cache_write_tokens: bigint;
  total_cost_micros: bigint;
}

/**
 * AggregateTokens over settled usage. Whole hours inside [from, to) come from usage_rollups_hourly; the
 * partial hours at either end of a range that is not hour-aligned come from the settlement rows themselves,
 * so totals are exact for any range while a long range still reads one row per hour and key.
 */
export async function aggregateUsage(db: DbOrTx, query: UsageAggregateQuery): Promise<UsageAggregateRow[]> {
  const filters: SQL[] = [];
  if (query.providerId) filters.push(sql`provider_id = ${query.providerId}`);
  if (query.accountId) filters.push(sql`account_id = ${query.accountId}`);
  if (query.model) filters.push(sql`model = ${query.model}`);

  const wholeFrom = query.from ? hourCeil(query.from) : undefined;
  const wholeTo = query.to ? hourFloor(query.to) : undefined;
  const rollupWhere = [...filters];
  if (wholeFrom) rollupWhere.push(sql`bucket_start >= ${ts(wholeFrom)}`);
  if (wholeTo) rollupWhere.push(sql`bucket_start < ${ts(wholeTo)}`);

  // The partial hours: [from, first whole hour) and [last whole hour's end, to), each clipped to the range.
  const edges: SQL[] = [];
  if (query.from && wholeFrom && wholeFrom > query.from) {
    const end = query.to && query.to < wholeFrom ? query.to : wholeFrom;
    edges.push(sql`(occurred_at >= ${ts(query.from)} AND occurred_at < ${ts(end)})`);
  }
  if (query.to && wholeTo && wholeTo < query.to) {
    const start = wholeFrom && wholeFrom > wholeTo ? wholeFrom : wholeTo;
    if (start < query.to) edges.push(sql`(occurred_at >= ${ts(start)} AND occurred_at < ${ts(query.to)})`);
  }
  const raw = edges.length
    ? sql`UNION ALL
      SELECT occurred_at, provider_id, account_id, model, 1::bigint, input_tokens, output_tokens,
        cached_input_tokens, cache_write_tokens, total_cost_micros
      FROM settlements
      WHERE status = 'settled' AND (${sql.join(edges, sql` OR `)})
        ${filters.length ? sql`AND ${sql.join(filters, sql` AND `)}` : sql``}`
    : sql``;

  const bucket =
    query.granularity === "all"
      ? sql`min(at) OVER ()`
      : sql`date_trunc(${sql.raw(TRUNC_UNITS[query.granularity])}, at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;
  const grouped = (name: UsageGroupBy, column: string) =>
    query.groupBy.includes(name) ? sql.raw(column) : sql.raw(`''::text`);

  const result = await db.execute<AggregateRow>(sql`
    WITH src (at, provider_id, account_id, model, request_count, input_tokens, output_tokens, cached_input_tokens,
      cache_write_tokens, total_cost_micros) AS (
      SELECT bucket_start, provider_id, account_id, model, request_count, input_tokens, output_tokens,
        cached_input_tokens, cache_write_tokens, total_cost_micros
      FROM usage_rollups_hourly
      ${rollupWhere.length ? sql`WHERE ${sql.join(rollupWhere, sql` AND `)}` : sql``}
      ${raw}
    ),
    bucketed AS (
      SELECT ${bucket} AS bucket_start, ${grouped("provider", "provider_id")} AS provider_id,
        ${grouped("account", "account_id")} AS account_id, ${grouped("model", "model")} AS model, request_count,
        input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, total_cost_micros
      FROM src
    )
    SELECT ${utcIso("bucket_start")} AS bucket_start, provider_id, account_id, model,
      sum(request_count)::bigint AS request_count,
      sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
      sum(cached_input_tokens)::bigint AS cached_input_tokens, sum(cache_write_tokens)::bigint AS cache_write_tokens,
      sum(total_cost_micros)::bigint AS total_cost_micros
    FROM bucketed
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4`);
  const rows = result.rows.map((row) => ({
    bucketStart: new Date(row.bucket_start),
    providerId: row.provider_id,
    accountId: row.account_id,
    model: row.model,
    requestCount: row.request_count,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    cachedInputTokens: row.cached_input_tokens,
    cacheWriteTokens: row.cache_write_tokens,
    totalCostMicros: row.total_cost_micros,
  }));
  if (query.granularity === "all" && query.from) for (const row of rows) row.bucketStart = query.from;
  if (query.granularity === "all" && !query.from && rows.length)
    await refineEarliest(db, rows, query, filters);
  return rows;
}

/**
 * Without `from`, the one bucket starts at the earliest usage. The rollups know it only to the hour, so the
 * exact instant is read from the settlements of that hour.
 */
async function refineEarliest(
  db: DbOrTx,
  rows: UsageAggregateRow[],
  query: UsageAggregateQuery,
  filters: SQL[],
): Promise<void> {
  const hour = rows[0]!.bucketStart;
  const result = await db.execute<{ earliest: string | null }>(sql`
    SELECT ${utcIso("min(occurred_at)")} AS earliest FROM settlements
    WHERE status = 'settled' AND occurred_at >= ${ts(hourFloor(hour))} AND occurred_at < ${ts(new Date(hourFloor(hour).getTime() + HOUR_MS))}
      ${query.to ? sql`AND occurred_at < ${ts(query.to)}` : sql``}
      ${filters.length ? sql`AND ${sql.join(filters, sql` AND `)}` : sql``}`);
  const text = result.rows[0]?.earliest;
  const earliest = text ? new Date(text) : hour;
  for (const row of rows) row.bucketStart = earliest;
}
