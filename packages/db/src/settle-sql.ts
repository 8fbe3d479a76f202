import { type SQL, sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";
import type { PricedCandidate } from "./settle-pricing";
import { PLATFORM_LEDGER_ACCOUNT, type SettleCandidate } from "./settle-types";

// Every statement here writes a whole batch from parallel arrays (one parameter per column), so a batch of any
// size is a handful of round trips and the SQL text never grows with it.
const texts = (values: readonly (string | null)[]): SQL => sql`${sql.param(values)}::text[]`;
const bigints = (values: readonly (bigint | null)[]): SQL =>
  sql`${sql.param(values.map((v) => (v === null ? null : v.toString())))}::bigint[]`;
const ints = (values: readonly number[]): SQL => sql`${sql.param(values)}::int[]`;
const instants = (values: readonly Date[]): SQL =>
  sql`${sql.param(values.map((d) => d.toISOString()))}::timestamptz[]`;

/**
 * A timestamptz as ISO-8601 UTC text: drizzle's execute() hands timestamps back as text in the session's
 * format, so reads name the format themselves and `new Date()` parses it exactly (millisecond columns).
 */
export function utcIso(expression: string): SQL {
  return sql.raw(`to_char((${expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);
}

/** Inserts the usage rows; returns the request ids really inserted (not those an earlier run wrote). */
export async function insertUsageRows(tx: DbOrTx, rows: readonly SettleCandidate[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const result = await tx.execute<{ request_id: string }>(sql`
    INSERT INTO usage_events (request_id, account_id, provider_id, model, preauth_id, input_tokens,
      output_tokens, cached_input_tokens, cache_write_tokens, occurred_at)
    SELECT * FROM unnest(${texts(rows.map((r) => r.requestId))}, ${texts(rows.map((r) => r.accountId))},
      ${texts(rows.map((r) => r.providerId))}, ${texts(rows.map((r) => r.model))},
      ${texts(rows.map((r) => r.preauthId))}, ${bigints(rows.map((r) => r.usage.inputTokens))},
      ${bigints(rows.map((r) => r.usage.outputTokens))}, ${bigints(rows.map((r) => r.usage.cachedInputTokens))},
      ${bigints(rows.map((r) => r.usage.cacheWriteTokens))}, ${instants(rows.map((r) => r.occurredAt))})
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id`);
  return new Set(result.rows.map((row) => row.request_id));
}

export interface StoredUsageRow extends Record<string, unknown> {
  request_id: string;
  account_id: string;
  provider_id: string;
  model: string;
  preauth_id: string | null;
  input_tokens: bigint;
  output_tokens: bigint;
  cached_input_tokens: bigint;
  cache_write_tokens: bigint;
  occurred_at: string;
  /** null: no settlement row yet. */
  status: "settled" | "failed" | null;
}

/** Usage rows an earlier run wrote, with their settlement's status. */
export async function readStoredUsage(tx: DbOrTx, requestIds: readonly string[]): Promise<StoredUsageRow[]> {
  if (requestIds.length === 0) return [];
  const result = await tx.execute<StoredUsageRow>(sql`
    SELECT u.request_id, u.account_id, u.provider_id, u.model, u.preauth_id, u.input_tokens, u.output_tokens,
      u.cached_input_tokens, u.cache_write_tokens, ${utcIso("u.occurred_at")} AS occurred_at, s.status
    FROM usage_events u LEFT JOIN settlements s ON s.request_id = u.request_id
    WHERE u.request_id = ANY(${texts(requestIds)})`);
  return result.rows;
}

/**
 * Writes settled and failed rows. A row that exists is only overwritten while it is 'failed' (a rerun), so a
 * settlement is applied once however often its job runs; only the returned rows were written by this call.
 */
export async function upsertSettlements(
  tx: DbOrTx,
  priced: readonly PricedCandidate[],
): Promise<Map<string, "settled" | "failed">> {
  if (priced.length === 0) return new Map();
  const c = priced.map((p) => p.candidate);
  const cost = (pick: (p: Extract<PricedCandidate, { ok: true }>) => bigint) =>
    bigints(priced.map((p) => (p.ok ? pick(p) : 0n)));
  const result = await tx.execute<{ request_id: string; status: "settled" | "failed" }>(sql`
    INSERT INTO settlements (request_id, account_id, provider_id, model, preauth_id, status, failure_reason,
      input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, total_cost_micros, input_cost_micros,
      output_cost_micros, cached_input_cost_micros, cache_write_cost_micros, rounding_micros,
      provider_earnings_micros, company_fee_micros, commission_rate_bps, price_version, occurred_at)
    SELECT * FROM unnest(${texts(c.map((r) => r.requestId))}, ${texts(c.map((r) => r.accountId))},
      ${texts(c.map((r) => r.providerId))}, ${texts(c.map((r) => r.model))}, ${texts(c.map((r) => r.preauthId))},
      ${texts(priced.map((p) => (p.ok ? "settled" : "failed")))}, ${texts(priced.map((p) => (p.ok ? null : p.reason)))},
      ${bigints(c.map((r) => r.usage.inputTokens))}, ${bigints(c.map((r) => r.usage.outputTokens))},
      ${bigints(c.map((r) => r.usage.cachedInputTokens))}, ${bigints(c.map((r) => r.usage.cacheWriteTokens))},
      ${cost((p) => p.cost.totalCostMicros)}, ${cost((p) => p.cost.inputCostMicros)},
      ${cost((p) => p.cost.outputCostMicros)}, ${cost((p) => p.cost.cachedInputCostMicros)},
      ${cost((p) => p.cost.cacheWriteCostMicros)}, ${cost((p) => p.cost.roundingMicros)},
      ${cost((p) => p.split.providerEarningsMicros)}, ${cost((p) => p.split.companyFeeMicros)},
      ${ints(priced.map((p) => (p.ok ? p.split.commissionRateBps : 0)))},
      ${bigints(priced.map((p) => (p.ok ? p.priceVersion : null)))}, ${instants(c.map((r) => r.occurredAt))})
    ON CONFLICT (request_id) DO UPDATE SET
      status = EXCLUDED.status, failure_reason = EXCLUDED.failure_reason,
      total_cost_micros = EXCLUDED.total_cost_micros, input_cost_micros = EXCLUDED.input_cost_micros,
      output_cost_micros = EXCLUDED.output_cost_micros, cached_input_cost_micros = EXCLUDED.cached_input_cost_micros,
      cache_write_cost_micros = EXCLUDED.cache_write_cost_micros, rounding_micros = EXCLUDED.rounding_micros,
      provider_earnings_micros = EXCLUDED.provider_earnings_micros, company_fee_micros = EXCLUDED.company_fee_micros,
      commission_rate_bps = EXCLUDED.commission_rate_bps, price_version = EXCLUDED.price_version,
      settled_at = now(), attempts = settlements.attempts + 1
    WHERE settlements.status = 'failed'
    RETURNING request_id, status`);
  return new Map(result.rows.map((row) => [row.request_id, row.status]));
}

type Settled = Extract<PricedCandidate, { ok: true }>;

/** Double entry per settlement: consumer −total, provider +earnings, platform +fee (sums to zero). */
export async function insertLedgerEntries(tx: DbOrTx, settled: readonly Settled[]): Promise<void> {
  if (settled.length === 0) return;
  const requestIds: string[] = [];
  const types: string[] = [];
  const kinds: string[] = [];
  const accounts: string[] = [];
  const amounts: bigint[] = [];
  const push = (requestId: string, type: string, kind: string, account: string, amount: bigint) => {
    requestIds.push(requestId);
    types.push(type);
    kinds.push(kind);
    accounts.push(account);
    amounts.push(amount);
  };
  for (const { candidate: c, split } of settled) {
    push(c.requestId, "usage_charge", "consumer", c.accountId, -split.totalCostMicros);
    push(c.requestId, "provider_earnings", "provider", c.providerId, split.providerEarningsMicros);
    push(c.requestId, "platform_fee", "platform", PLATFORM_LEDGER_ACCOUNT, split.companyFeeMicros);
  }
  await tx.execute(sql`
    INSERT INTO ledger_entries (request_id, entry_type, account_kind, account_id, amount_micros)
    SELECT * FROM unnest(${texts(requestIds)}, ${texts(types)}, ${texts(kinds)}, ${texts(accounts)},
      ${bigints(amounts)})
    ON CONFLICT (request_id, entry_type) DO NOTHING`);
}

/**
 * Clears what the settled captures' pre-auths still hold (the captured cost, kept held since the capture) and
 * answers the amount per account, for applyBalanceChanges to take off accounts.held with the charge. The
 * pre-auth rows are locked in id order before any account row, the order a capture takes them in.
 */
export async function releaseCaptureHolds(
  tx: DbOrTx,
  settled: readonly Settled[],
): Promise<Map<string, bigint>> {
  const ids = [
    ...new Set(settled.flatMap(({ candidate }) => (candidate.preauthId ? [candidate.preauthId] : []))),
  ].sort();
  const released = new Map<string, bigint>();
  if (ids.length === 0) return released;
  const result = await tx.execute<{ account_id: string; held_micros: bigint }>(sql`
    UPDATE preauths p SET held_micros = 0
    FROM (
      SELECT preauth_id, held_micros FROM preauths
      WHERE preauth_id = ANY(${texts(ids)}) AND status = 'captured' AND held_micros > 0
      ORDER BY preauth_id FOR UPDATE
    ) h
    WHERE p.preauth_id = h.preauth_id
    RETURNING p.account_id, h.held_micros`);
  for (const row of result.rows) {
    released.set(row.account_id, (released.get(row.account_id) ?? 0n) + row.held_micros);
  }
  return released;
}

/**
 * Lowers each account's balance once per batch by the sum of its settled totals, and its held funds by what
 * the settled captures released (releaseCaptureHolds), in the same row update. Post-paid usage by an account
 * that has no row yet creates it (balance = −charges, no credit limit), so usage is never lost for want of an
 * account row. Rows are locked in account order, so concurrent batches cannot deadlock on each other.
 */
export async function applyBalanceChanges(
  tx: DbOrTx,
  settled: readonly Settled[],
  releasedHolds: ReadonlyMap<string, bigint> = new Map(),
): Promise<void> {
  if (settled.length === 0) return;
  const totals = new Map<string, bigint>();
  for (const { candidate, split } of settled) {
    totals.set(candidate.accountId, (totals.get(candidate.accountId) ?? 0n) + split.totalCostMicros);
  }
  const ids = [...totals.keys()].sort();
  await tx.execute(sql`
    WITH changes AS (
      SELECT * FROM unnest(${texts(ids)}, ${bigints(ids.map((id) => totals.get(id)!))},
        ${bigints(ids.map((id) => releasedHolds.get(id) ?? 0n))}) AS t(id, total, released)
    )
    INSERT INTO accounts (account_id, balance_micros)
    SELECT id, -total FROM changes
    ORDER BY id
    ON CONFLICT (account_id) DO UPDATE SET
      balance_micros = accounts.balance_micros + EXCLUDED.balance_micros,
      held_micros = accounts.held_micros - (SELECT released FROM changes WHERE changes.id = EXCLUDED.account_id),
      updated_at = now()`);
}

/** Adds the settled usage to its hourly buckets (UTC), in key order for the same reason as balances. */
export async function upsertHourlyRollups(tx: DbOrTx, settled: readonly Settled[]): Promise<void> {
  if (settled.length === 0) return;
  const c = settled.map((s) => s.candidate);
  await tx.execute(sql`
    INSERT INTO usage_rollups_hourly (bucket_start, provider_id, account_id, model, request_count, input_tokens,
      output_tokens, cached_input_tokens, cache_write_tokens, total_cost_micros)
    SELECT date_trunc('hour', t.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', t.provider_id, t.account_id,
      t.model, count(*), sum(t.input_tokens)::bigint, sum(t.output_tokens)::bigint,
      sum(t.cached_input_tokens)::bigint, sum(t.cache_write_tokens)::bigint, sum(t.total)::bigint
    FROM unnest(${instants(c.map((r) => r.occurredAt))}, ${texts(c.map((r) => r.providerId))},
      ${texts(c.map((r) => r.accountId))}, ${texts(c.map((r) => r.model))},
      ${bigints(c.map((r) => r.usage.inputTokens))}, ${bigints(c.map((r) => r.usage.outputTokens))},
      ${bigints(c.map((r) => r.usage.cachedInputTokens))}, ${bigints(c.map((r) => r.usage.cacheWriteTokens))},
      ${bigints(settled.map((s) => s.split.totalCostMicros))})
      AS t(occurred_at, provider_id, account_id, model, input_tokens, output_tokens, cached_input_tokens,
        cache_write_tokens, total)
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (bucket_start, provider_id, account_id, model) DO UPDATE SET
      request_count = usage_rollups_hourly.request_count + EXCLUDED.request_count,
      input_tokens = usage_rollups_hourly.input_tokens + EXCLUDED.input_tokens,
      output_tokens = usage_rollups_hourly.output_tokens + EXCLUDED.output_tokens,
      cached_input_tokens = usage_rollups_hourly.cached_input_tokens + EXCLUDED.cached_input_tokens,
      cache_write_tokens = usage_rollups_hourly.cache_write_tokens + EXCLUDED.cache_write_tokens,
      total_cost_micros = usage_rollups_hourly.total_cost_micros + EXCLUDED.total_cost_micros`);
}
