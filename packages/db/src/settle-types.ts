import type { Bps, CommissionSettings, Micros, PriceVersion, Usage } from "@heidrun/core";

/** Post-paid usage (TrackTokens): priced with the version in effect at occurredAt. */
export interface UsageSettleItem {
  kind: "usage";
  requestId: string;
  accountId: string;
  providerId: string;
  model: string;
  usage: Usage;
  occurredAt: Date;
  actor: string;
}

/** A captured pre-authorization: account, provider, model, usage and pinned price come from the preauth row. */
export interface CaptureSettleItem {
  kind: "capture";
  /** The capture's request_id: the settlement is written under it. */
  requestId: string;
  preauthId: string;
  actor: string;
}

export type SettleItem = UsageSettleItem | CaptureSettleItem;

/** A price version as the price cache holds it; `id` is price_versions.id when known. */
export type SettlePrice = PriceVersion & { id?: bigint };

/** What settling needs of the price cache (PriceCache satisfies it). */
export interface SettlePriceSource {
  /** The version in effect at `at` (model, then "*"); throws DomainError NOT_FOUND when there is none. */
  resolve(providerId: string, model: string, at: Date): SettlePrice;
  byVersion(providerId: string, model: string, version: bigint): SettlePrice | undefined;
}

export interface SettleOptions {
  prices: SettlePriceSource;
  commission: CommissionSettings;
  roundingIncrementMicros: Micros;
}

/** The ledger account that receives the platform's fee. */
export const PLATFORM_LEDGER_ACCOUNT = "platform";

export interface SettledOutcome {
  status: "settled";
  requestId: string;
  accountId: string;
  totalCostMicros: Micros;
  providerEarningsMicros: Micros;
  companyFeeMicros: Micros;
  commissionRateBps: Bps;
  priceVersion: bigint;
  occurredAt: Date;
}

/**
 * One item's fate once the batch committed. `already_settled`: an earlier run settled it, nothing changed now.
 * `failed`: a FAILED settlement row holds `reason` (no price, …); a rerun may settle it later.
 * `rejected`: no row could be written (the pre-auth has no capture under this request, …).
 */
export type SettleOutcome =
  | SettledOutcome
  | { status: "already_settled"; requestId: string }
  | { status: "failed"; requestId: string; reason: string }
  | { status: "rejected"; requestId: string; reason: string };

/** A usage ready to be priced and written: from a job, a preauth row, or the usage row an earlier run wrote. */
export interface SettleCandidate {
  requestId: string;
  accountId: string;
  providerId: string;
  model: string;
  preauthId: string | null;
  usage: Usage;
  occurredAt: Date;
  actor: string;
  /** Captures: the version pinned at pre-authorization (and its price_versions.id when recorded). */
  pinned?: { version: bigint; id: bigint | null };
}
