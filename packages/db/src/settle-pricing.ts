import {
  type CommissionSplit,
  type CostBreakdown,
  calculateCost,
  resolveCommissionBps,
  splitCommission,
} from "@heidrun/core";
import type { SettleCandidate, SettleOptions, SettlePrice } from "./settle-types";

export type PricedCandidate =
  | {
      candidate: SettleCandidate;
      ok: true;
      cost: CostBreakdown;
      split: CommissionSplit;
      priceVersion: bigint;
    }
  | { candidate: SettleCandidate; ok: false; reason: string };

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The version pinned at pre-authorization. The preauth row keeps the version number (and the row id); the
 * pinned version may be the model's own price or the provider's "*" default, so the id tells them apart.
 */
function pinnedPrice(candidate: SettleCandidate, options: SettleOptions): SettlePrice {
  const pinned = candidate.pinned!;
  const found = [candidate.model, "*"]
    .map((model) => options.prices.byVersion(candidate.providerId, model, pinned.version))
    .filter((price): price is SettlePrice => price !== undefined);
  const match =
    pinned.id === null ? found[0] : found.find((price) => price.id === undefined || price.id === pinned.id);
  if (!match) {
    throw new Error(
      `no price: the version ${pinned.version} pinned by pre-auth ${candidate.preauthId} ` +
        `(provider ${candidate.providerId}, model ${candidate.model}) is not in the price catalog`,
    );
  }
  return match;
}

/**
 * Prices one usage with the version in effect at occurred_at (or the pinned one) and splits the commission.
 * Any failure (no price, cost beyond int64, a misconfigured commission) is the item's reason, never a zero charge.
 */
export function priceCandidate(candidate: SettleCandidate, options: SettleOptions): PricedCandidate {
  try {
    const price = candidate.pinned
      ? pinnedPrice(candidate, options)
      : options.prices.resolve(candidate.providerId, candidate.model, candidate.occurredAt);
    const cost = calculateCost(candidate.usage, price, options.roundingIncrementMicros);
    const bps = resolveCommissionBps(candidate.providerId, options.commission);
    const split = splitCommission(cost.totalCostMicros, bps);
    return { candidate, ok: true, cost, split, priceVersion: price.version };
  } catch (error) {
    return { candidate, ok: false, reason: messageOf(error) };
  }
}
