import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

const micros = (name: string) => bigint(name, { mode: "bigint" });
const tokens = (name: string) => bigint(name, { mode: "bigint" });
/** Millisecond precision: values round-trip through JS Date exactly, which keyset pagination relies on. */
const instant = (name: string) => timestamp(name, { withTimezone: true, mode: "date", precision: 3 });
const createdAt = () => instant("created_at").notNull().defaultNow();

export const accounts = pgTable(
  "accounts",
  {
    accountId: text("account_id").primaryKey(),
    balanceMicros: micros("balance_micros").notNull().default(sql`0`),
    heldMicros: micros("held_micros").notNull().default(sql`0`),
    creditLimitMicros: micros("credit_limit_micros").notNull().default(sql`0`),
    currency: text("currency").notNull().default("USD"),
    createdAt: createdAt(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [
    check("accounts_held_non_negative", sql`${t.heldMicros} >= 0`),
    check("accounts_credit_limit_non_negative", sql`${t.creditLimitMicros} >= 0`),
  ],
);

/** CreditAccount and SetCreditLimit, one row per request_id: the idempotency record and the first answer. */
export const accountOperations = pgTable(
  "account_operations",
  {
    requestId: text("request_id").primaryKey(),
    kind: text("kind", { enum: ["credit", "credit_limit"] }).notNull(),
    fingerprint: text("fingerprint").notNull(),
    accountId: text("account_id").notNull(),
    amountMicros: micros("amount_micros").notNull(),
    reference: text("reference").notNull().default(""),
    /** The Balance answered first, amounts as decimal strings, replayed for repeats. */
    response: jsonb("response").notNull(),
    actor: text("actor").notNull(),
    createdAt: createdAt(),
  },
  (t) => [index("account_operations_account_idx").on(t.accountId, t.createdAt)],
);

export const priceVersions = pgTable(
  "price_versions",
  {
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    providerId: text("provider_id").notNull(),
    model: text("model").notNull(),
    version: bigint("version", { mode: "bigint" }).notNull(),
    inputMicrosPerMtok: micros("input_micros_per_mtok").notNull(),
    outputMicrosPerMtok: micros("output_micros_per_mtok").notNull(),
    cachedInputMicrosPerMtok: micros("cached_input_micros_per_mtok"),
    cacheWriteMicrosPerMtok: micros("cache_write_micros_per_mtok"),
    /** PriceTier[] with every amount as a decimal string. */
    tiers: jsonb("tiers").notNull().default([]),
    currency: text("currency").notNull(),
    effectiveFrom: instant("effective_from").notNull(),
    requestId: text("request_id").notNull(),
    fingerprint: text("fingerprint").notNull(),
    actor: text("actor").notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex("price_versions_request_id_key").on(t.requestId),
    uniqueIndex("price_versions_key_version_key").on(t.providerId, t.model, t.version),
    index("price_versions_lookup_idx").on(t.providerId, t.model, t.effectiveFrom),
    check("price_versions_non_negative", sql`${t.inputMicrosPerMtok} >= 0 AND ${t.outputMicrosPerMtok} >= 0`),
  ],
);

export const preauthStatuses = ["pending", "captured", "cancelled", "expired", "declined"] as const;
export type PreauthStatus = (typeof preauthStatuses)[number];

export const preauths = pgTable(
  "preauths",
  {
    preauthId: text("preauth_id").primaryKey(),
    requestId: text("request_id").notNull(),
    fingerprint: text("fingerprint").notNull(),
    accountId: text("account_id").notNull(),
    providerId: text("provider_id").notNull(),
    model: text("model").notNull(),
    status: text("status", { enum: preauthStatuses }).notNull(),
    declineReason: text("decline_reason"),
    /** What this pre-auth holds now: the estimate while pending, the captured cost until it is settled, else 0. */
    heldMicros: micros("held_micros").notNull(),
    estimatedCostMicros: micros("estimated_cost_micros").notNull(),
    estimatedInputTokens: tokens("estimated_input_tokens").notNull(),
    maxOutputTokens: tokens("max_output_tokens").notNull(),
    /** Funds available after the hold (or, when declined, at the time), replayed for repeats. */
    availableMicros: micros("available_micros").notNull(),
    priceVersionId: bigint("price_version_id", { mode: "bigint" }).references(() => priceVersions.id),
    priceVersion: bigint("price_version", { mode: "bigint" }).notNull(),
    actor: text("actor").notNull(),
    createdAt: createdAt(),
    expiresAt: instant("expires_at").notNull(),
    captureRequestId: text("capture_request_id"),
    captureFingerprint: text("capture_fingerprint"),
    capturedInputTokens: tokens("captured_input_tokens"),
    capturedOutputTokens: tokens("captured_output_tokens"),
    capturedCachedInputTokens: tokens("captured_cached_input_tokens"),
    capturedCacheWriteTokens: tokens("captured_cache_write_tokens"),
    capturedCostMicros: micros("captured_cost_micros"),
    capturedAt: instant("captured_at"),
    cancelRequestId: text("cancel_request_id"),
    cancelFingerprint: text("cancel_fingerprint"),
    cancelReason: text("cancel_reason"),
    cancelledAt: instant("cancelled_at"),
    expiredAt: instant("expired_at"),
    /** The hold released by the terminal transition, replayed for repeats of capture or cancel. */
    releasedMicros: micros("released_micros"),
  },
  (t) => [
    uniqueIndex("preauths_request_id_key").on(t.requestId),
    uniqueIndex("preauths_capture_request_id_key").on(t.captureRequestId),
    uniqueIndex("preauths_cancel_request_id_key").on(t.cancelRequestId),
    index("preauths_pending_expiry_idx").on(t.expiresAt).where(sql`${t.status} = 'pending'`),
    // Captures whose settlement has not charged them yet: a handful at any time, read by the overview.
    index("preauths_awaiting_settlement_idx")
      .on(t.capturedAt)
      .where(sql`${t.status} = 'captured' AND ${t.heldMicros} > 0`),
    index("preauths_account_idx").on(t.accountId, t.createdAt),
    check(
      "preauths_status_valid",
      sql`${t.status} IN ('pending','captured','cancelled','expired','declined')`,
    ),
    check("preauths_held_non_negative", sql`${t.heldMicros} >= 0`),
    // A capture keeps its cost held until the settlement worker charges it, so `available` never reads high.
    check("preauths_held_only_open", sql`${t.status} IN ('pending','captured') OR ${t.heldMicros} = 0`),
  ],
);

export const usageEvents = pgTable(
  "usage_events",
  {
    requestId: text("request_id").primaryKey(),
    accountId: text("account_id").notNull(),
    providerId: text("provider_id").notNull(),
    model: text("model").notNull(),
    preauthId: text("preauth_id"),
    inputTokens: tokens("input_tokens").notNull(),
    outputTokens: tokens("output_tokens").notNull(),
    cachedInputTokens: tokens("cached_input_tokens").notNull(),
    cacheWriteTokens: tokens("cache_write_tokens").notNull(),
    occurredAt: instant("occurred_at").notNull(),
    recordedAt: instant("recorded_at").notNull().defaultNow(),
  },
  (t) => [index("usage_events_occurred_idx").on(t.occurredAt)],
);

export const settlementStatuses = ["settled", "failed"] as const;
export type SettlementStatus = (typeof settlementStatuses)[number];

export const settlements = pgTable(
  "settlements",
  {
    requestId: text("request_id").primaryKey(),
    accountId: text("account_id").notNull(),
    providerId: text("provider_id").notNull(),
    model: text("model").notNull(),
    preauthId: text("preauth_id"),
    status: text("status", { enum: settlementStatuses }).notNull(),
    failureReason: text("failure_reason"),
    inputTokens: tokens("input_tokens").notNull(),
    outputTokens: tokens("output_tokens").notNull(),
    cachedInputTokens: tokens("cached_input_tokens").notNull(),
    cacheWriteTokens: tokens("cache_write_tokens").notNull(),
    totalCostMicros: micros("total_cost_micros").notNull().default(sql`0`),
    inputCostMicros: micros("input_cost_micros").notNull().default(sql`0`),
    outputCostMicros: micros("output_cost_micros").notNull().default(sql`0`),
    cachedInputCostMicros: micros("cached_input_cost_micros").notNull().default(sql`0`),
    cacheWriteCostMicros: micros("cache_write_cost_micros").notNull().default(sql`0`),
    roundingMicros: micros("rounding_micros").notNull().default(sql`0`),
    providerEarningsMicros: micros("provider_earnings_micros").notNull().default(sql`0`),
    companyFeeMicros: micros("company_fee_micros").notNull().default(sql`0`),
    commissionRateBps: integer("commission_rate_bps").notNull().default(0),
    priceVersion: bigint("price_version", { mode: "bigint" }),
    occurredAt: instant("occurred_at").notNull(),
    /** When it settled, or for a failed one when it last failed. */
    settledAt: instant("settled_at").notNull().defaultNow(),
    attempts: integer("attempts").notNull().default(1),
  },
  (t) => [
    index("settlements_history_idx").on(t.occurredAt.desc(), t.requestId.desc()),
    index("settlements_provider_history_idx").on(t.providerId, t.occurredAt.desc(), t.requestId.desc()),
    index("settlements_account_history_idx").on(t.accountId, t.occurredAt.desc(), t.requestId.desc()),
    index("settlements_failed_idx").on(t.settledAt).where(sql`${t.status} = 'failed'`),
    index("settlements_preauth_idx").on(t.preauthId),
    check("settlements_status_valid", sql`${t.status} IN ('settled','failed')`),
    check(
      "settlements_split_adds_up",
      sql`${t.providerEarningsMicros} + ${t.companyFeeMicros} = ${t.totalCostMicros}`,
    ),
  ],
);

export const ledgerAccountKinds = ["consumer", "provider", "platform", "funding"] as const;

/** Double entry: the entries of one request sum to zero; balances are derivable from them. */
export const ledgerEntries = pgTable(
  "ledger_entries",
  {
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    requestId: text("request_id").notNull(),
    entryType: text("entry_type", {
      enum: ["usage_charge", "provider_earnings", "platform_fee", "credit", "credit_funding"],
    }).notNull(),
    accountKind: text("account_kind", { enum: ledgerAccountKinds }).notNull(),
    accountId: text("account_id").notNull(),
    amountMicros: micros("amount_micros").notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex("ledger_entries_request_entry_key").on(t.requestId, t.entryType),
    index("ledger_entries_account_idx").on(t.accountKind, t.accountId),
  ],
);

/** Settled usage per hour, the source of AggregateTokens. */
export const usageRollupsHourly = pgTable(
  "usage_rollups_hourly",
  {
    bucketStart: instant("bucket_start").notNull(),
    providerId: text("provider_id").notNull(),
    accountId: text("account_id").notNull(),
    model: text("model").notNull(),
    requestCount: bigint("request_count", { mode: "bigint" }).notNull(),
    inputTokens: tokens("input_tokens").notNull(),
    outputTokens: tokens("output_tokens").notNull(),
    cachedInputTokens: tokens("cached_input_tokens").notNull(),
    cacheWriteTokens: tokens("cache_write_tokens").notNull(),
    totalCostMicros: micros("total_cost_micros").notNull(),
  },
  (t) => [primaryKey({ columns: [t.bucketStart, t.providerId, t.accountId, t.model] })],
);

/** RerunFailedSettlements, one row per request_id: the idempotency record and the first answer. */
export const rerunRequests = pgTable("rerun_requests", {
  requestId: text("request_id").primaryKey(),
  fingerprint: text("fingerprint").notNull(),
  filters: jsonb("filters").notNull(),
  matched: bigint("matched", { mode: "bigint" }).notNull(),
  requeued: bigint("requeued", { mode: "bigint" }).notNull(),
  actor: text("actor").notNull(),
  createdAt: createdAt(),
});

/** Append-only, hash-chained; the application role may only INSERT and SELECT. */
export const auditEvents = pgTable(
  "audit_events",
  {
    seq: bigint("seq", { mode: "bigint" }).primaryKey(),
    eventType: text("event_type").notNull(),
    requestId: text("request_id"),
    preauthId: text("preauth_id"),
    accountId: text("account_id"),
    providerId: text("provider_id"),
    actor: text("actor").notNull(),
    /** Canonical JSON of the event's amounts and details (bigints as decimal strings). */
    payload: text("payload").notNull(),
    recordedAt: timestamp("recorded_at", { withTimezone: true, mode: "string" }).notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [
    index("audit_events_request_idx").on(t.requestId),
    index("audit_events_preauth_idx").on(t.preauthId),
    index("audit_events_account_idx").on(t.accountId),
  ],
);

/** One row: the chain head. Locking it serializes appends so the chain stays unbroken. */
export const auditChainHead = pgTable(
  "audit_chain_head",
  {
    id: smallint("id").primaryKey().default(1),
    seq: bigint("seq", { mode: "bigint" }).notNull(),
    hash: text("hash").notNull(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
  },
  (t) => [check("audit_chain_head_single_row", sql`${t.id} = 1`)],
);
