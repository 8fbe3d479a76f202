import { DomainError } from "@heidrun/core";
import { type SQL, sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";
import type { SettlementStatus } from "./schema";
import { utcIso } from "./settle-sql";

export const DEFAULT_HISTORY_PAGE_SIZE = 100;
export const MAX_HISTORY_PAGE_SIZE = 1000;

/** Where a page ends: the last row's sort key (occurred_at, request_id), both descending. */
export interface HistoryCursor {
  occurredAt: Date;
  requestId: string;
}

export interface SettlementHistoryQuery {
  providerId?: string;
  accountId?: string;
  /** occurred_at in [from, to) */
  from?: Date;
  to?: Date;
  status?: SettlementStatus;
  /** 0 or unset: the default (100); at most 1000. */
  pageSize?: number;
  /** The page token of the previous page; empty: the first page. */
  pageToken?: string;
}

export interface SettlementRecord {
  requestId: string;
  accountId: string;
  providerId: string;
  model: string;
  preauthId: string | null;
  status: SettlementStatus;
  failureReason: string | null;
  inputTokens: bigint;
  outputTokens: bigint;
  cachedInputTokens: bigint;
  cacheWriteTokens: bigint;
  totalCostMicros: bigint;
  providerEarningsMicros: bigint;
  companyFeeMicros: bigint;
  commissionRateBps: number;
  priceVersion: bigint | null;
  occurredAt: Date;
  /** When it settled, or for a failed one when it last failed. */
  settledAt: Date;
}

export interface SettlementHistoryPage {
  settlements: SettlementRecord[];
  /** Empty when this is the last page. */
  nextPageToken: string;
}

/**
 * The token is the last row's key, not an offset, so pages stay stable while rows are inserted: a row
 * inserted after the token was issued lands before or after the cursor, never shifting the rows after it.
 */
export function encodeHistoryCursor(cursor: HistoryCursor): string {
  return Buffer.from(JSON.stringify([cursor.occurredAt.toISOString(), cursor.requestId])).toString(
    "base64url",
  );
}

export function decodeHistoryCursor(token: string, field = "page_token"): HistoryCursor {
  const invalid = () => DomainError.invalid(field, "is not a page token this service issued");
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid();
  const [at, requestId] = parsed as unknown[];
  if (typeof at !== "string" || typeof requestId !== "string" || requestId === "") throw invalid();
  const occurredAt = new Date(at);
  if (Number.isNaN(occurredAt.getTime()) || occurredAt.toISOString() !== at) throw invalid();
  return { occurredAt, requestId };
}

interface SettlementRow extends Record<string, unknown> {
  request_id: string;
  account_id: string;
  provider_id: string;
  model: string;
  preauth_id: string | null;
  status: SettlementStatus;
  failure_reason: string | null;
  input_tokens: bigint;
  output_tokens: bigint;
  cached_input_tokens: bigint;
  cache_write_tokens: bigint;
  total_cost_micros: bigint;
  provider_earnings_micros: bigint;
  company_fee_micros: bigint;
  commission_rate_bps: number;
  price_version: bigint | null;
  occurred_at: string;
  settled_at: string;
}

function recordOf(row: SettlementRow): SettlementRecord {
  return {
    requestId: row.request_id,
    accountId: row.account_id,
    providerId: row.provider_id,
    model: row.model,
    preauthId: row.preauth_id,
    status: row.status,
    failureReason: row.failure_reason,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    cachedInputTokens: row.cached_input_tokens,
    cacheWriteTokens: row.cache_write_tokens,
    totalCostMicros: row.total_cost_micros,
    providerEarningsMicros: row.provider_earnings_micros,
    companyFeeMicros: row.company_fee_micros,
    commissionRateBps: row.commission_rate_bps,
    priceVersion: row.price_version,
    occurredAt: new Date(row.occurred_at),
    settledAt: new Date(row.settled_at),
  };
}

/** GetSettlementHistory: newest first by occurred_at, ties by request_id descending, keyset pages. */
export async function settlementHistory(
  db: DbOrTx,
  query: SettlementHistoryQuery,
): Promise<SettlementHistoryPage> {
  const pageSize = query.pageSize || DEFAULT_HISTORY_PAGE_SIZE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 0 || pageSize > MAX_HISTORY_PAGE_SIZE) {
    throw DomainError.invalid("page_size", `must be from 0 to ${MAX_HISTORY_PAGE_SIZE}, got ${pageSize}`);
  }
  const where: SQL[] = [];
  if (query.providerId) where.push(sql`provider_id = ${query.providerId}`);
  if (query.accountId) where.push(sql`account_id = ${query.accountId}`);
  if (query.from) where.push(sql`occurred_at >= ${query.from.toISOString()}::timestamptz`);
  if (query.to) where.push(sql`occurred_at < ${query.to.toISOString()}::timestamptz`);
  if (query.status) where.push(sql`status = ${query.status}`);
  if (query.pageToken) {
    const after = decodeHistoryCursor(query.pageToken);
    where.push(
      sql`(occurred_at, request_id) < (${after.occurredAt.toISOString()}::timestamptz, ${after.requestId})`,
    );
  }
  const result = await db.execute<SettlementRow>(sql`
    SELECT request_id, account_id, provider_id, model, preauth_id, status, failure_reason, input_tokens,
      output_tokens, cached_input_tokens, cache_write_tokens, total_cost_micros, provider_earnings_micros,
      company_fee_micros, commission_rate_bps, price_version, ${utcIso("occurred_at")} AS occurred_at,
      ${utcIso("settled_at")} AS settled_at
    FROM settlements
    ${where.length ? sql`WHERE ${sql.join(where, sql` AND `)}` : sql``}
    ORDER BY occurred_at DESC, request_id DESC
    LIMIT ${pageSize + 1}`);
  const rows = result.rows.slice(0, pageSize).map(recordOf);
  const last = rows[rows.length - 1];
  const more = result.rows.length > pageSize && last !== undefined;
  return {
    settlements: rows,
    nextPageToken: more
      ? encodeHistoryCursor({ occurredAt: last.occurredAt, requestId: last.requestId })
      : "",
  };
}
