import { sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";
import { reasonGroup, utcMillisText } from "./rerun-select";

export * from "./overview-metrics";

export interface ProviderDay {
  providerId: string;
  count: bigint;
  totalCostMicros: bigint;
  companyFeeMicros: bigint;
  providerEarningsMicros: bigint;
}

export interface SettledToday {
  /** 00:00 UTC of the database's today. */
  dayStart: Date;
  providers: ProviderDay[];
}

/** Settlements that settled since 00:00 UTC, per provider, with exact sums. */
export async function settledTodayByProvider(db: DbOrTx): Promise<SettledToday> {
  const result = await db.execute<{
    day_start: string;
    provider_id: string | null;
    n: bigint | null;
    total: bigint | null;
    fee: bigint | null;
    earnings: bigint | null;
  }>(sql`
    WITH day AS (SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start)
    SELECT ${utcMillisText("day.start")} AS day_start, s.provider_id, count(s.request_id)::bigint AS n,
      sum(s.total_cost_micros)::bigint AS total, sum(s.company_fee_micros)::bigint AS fee,
      sum(s.provider_earnings_micros)::bigint AS earnings
    FROM day LEFT JOIN settlements s ON s.status = 'settled' AND s.settled_at >= day.start
    GROUP BY day.start, s.provider_id
    ORDER BY s.provider_id`);
  const first = result.rows[0];
  return {
    dayStart: new Date(first!.day_start),
    providers: result.rows
      .filter((row) => row.provider_id !== null)
      .map((row) => ({
        providerId: row.provider_id!,
        count: row.n ?? 0n,
        totalCostMicros: row.total ?? 0n,
        companyFeeMicros: row.fee ?? 0n,
        providerEarningsMicros: row.earnings ?? 0n,
      })),
  };
}

export interface FailedGroup {
  /** The reason without timestamps and ids (reasonGroup); a rerun of the group selects by it. */
  reason: string;
  count: bigint;
  providers: string[];
  firstFailedAt: Date;
  lastFailedAt: Date;
}

/** FAILED settlements grouped by reason, largest groups first (read through the partial index on failed rows). */
export async function failedSettlementGroups(db: DbOrTx, limit = 50): Promise<FailedGroup[]> {
  const result = await db.execute<{
    reason: string;
    n: bigint;
    providers: string[];
    first_at: string;
    last_at: string;
  }>(sql`
    SELECT ${reasonGroup(sql`failure_reason`)} AS reason, count(*)::bigint AS n,
      array_agg(DISTINCT provider_id ORDER BY provider_id) AS providers,
      ${utcMillisText("min(settled_at)")} AS first_at, ${utcMillisText("max(settled_at)")} AS last_at
    FROM settlements WHERE status = 'failed'
    GROUP BY 1 ORDER BY n DESC, reason LIMIT ${limit}`);
  return result.rows.map((row) => ({
    reason: row.reason,
    count: row.n,
    providers: row.providers,
    firstFailedAt: new Date(row.first_at),
    lastFailedAt: new Date(row.last_at),
  }));
}

export interface OpenHolds {
  count: bigint;
  heldMicros: bigint;
  /** The soonest expiry among them (null when there are none). */
  nextExpiry: Date | null;
  /** Captures still holding their cost because their settlement has not charged it yet. */
  awaitingSettlement: {
    count: bigint;
    heldMicros: bigint;
    /** The oldest such capture (null when there are none): minutes old means settlements are stuck. */
    oldestCapturedAt: Date | null;
  };
}

/** Pending pre-auths and unsettled captures, and what they hold (each read through its partial index). */
export async function openHolds(db: DbOrTx): Promise<OpenHolds> {
  const result = await db.execute<{
    n: bigint;
    held: bigint;
    next_expiry: string | null;
    captured_n: bigint;
    captured_held: bigint;
    oldest_capture: string | null;
  }>(sql`
    SELECT pending.*, captured.*
    FROM (
      SELECT count(*)::bigint AS n, coalesce(sum(held_micros), 0)::bigint AS held,
        ${utcMillisText("min(expires_at)")} AS next_expiry
      FROM preauths WHERE status = 'pending'
    ) pending, (
      SELECT count(*)::bigint AS captured_n, coalesce(sum(held_micros), 0)::bigint AS captured_held,
        ${utcMillisText("min(captured_at)")} AS oldest_capture
      FROM preauths WHERE status = 'captured' AND held_micros > 0
    ) captured`);
  const row = result.rows[0]!;
  return {
    count: row.n,
    heldMicros: row.held,
    nextExpiry: row.next_expiry ? new Date(row.next_expiry) : null,
    awaitingSettlement: {
      count: row.captured_n,
      heldMicros: row.captured_held,
      oldestCapturedAt: row.oldest_capture ? new Date(row.oldest_capture) : null,
    },
  };
}

export async function failedSettlementCount(db: DbOrTx): Promise<bigint> {
  const result = await db.execute<{ n: bigint }>(
    sql`SELECT count(*)::bigint AS n FROM settlements WHERE status = 'failed'`,
  );
  return result.rows[0]!.n;
}

/** Pre-auths created in the last `windowSeconds`, by status (declines and captures are outcomes). */
export async function recentPreauthOutcomes(db: DbOrTx, windowSeconds: number): Promise<Map<string, bigint>> {
  const result = await db.execute<{ status: string; n: bigint }>(sql`
    SELECT status, count(*)::bigint AS n FROM preauths
    WHERE created_at >= now() - make_interval(secs => ${windowSeconds})
    GROUP BY status`);
  return new Map(result.rows.map((row) => [row.status, row.n]));
}

/** A round trip to Postgres (health checks). */
export async function pingDatabase(db: DbOrTx): Promise<void> {
  await db.execute(sql`SELECT 1`);
}
