import { type Bps, calculateCost, type PriceVersion } from "@heidrun/core";
import type { PriceConfig, Usage } from "@heidrun/proto";
import type { HeidrunClient } from "./client";
import { type Target, targetKey } from "./flows";

/** The price each simulated model gets (undefined: none, its usage must fail) and each provider's commission. */
export interface PriceBook {
  prices: Map<string, PriceVersion | undefined>;
  commissionBps: Map<string, Bps>;
  roundingIncrementMicros: bigint;
  /** Local quotes that disagree with CalculatePricing: the books cannot be right with them. */
  quoteDifferences: string[];
}

export function toPriceVersion(config: PriceConfig): PriceVersion {
  return {
    providerId: config.providerId,
    model: config.model,
    inputMicrosPerMtok: config.inputMicrosPerMtok,
    outputMicrosPerMtok: config.outputMicrosPerMtok,
    cachedInputMicrosPerMtok: config.cachedInputMicrosPerMtok ?? null,
    cacheWriteMicrosPerMtok: config.cacheWriteMicrosPerMtok ?? null,
    tiers: config.tiers.map((tier) => ({
      aboveInputTokens: tier.aboveInputTokens,
      input: tier.inputMicrosPerMtok ?? null,
      output: tier.outputMicrosPerMtok ?? null,
      cachedInput: tier.cachedInputMicrosPerMtok ?? null,
      cacheWrite: tier.cacheWriteMicrosPerMtok ?? null,
    })),
    effectiveFrom: config.effectiveFrom ?? new Date(0),
    version: config.version,
    currency: config.currency,
  };
}

/** Usages that reach the long-context tiers and cache prices, to compare local quotes with Heidrun's. */
const PROBES: Usage[] = [
  { inputTokens: 1234n, outputTokens: 567n, cachedInputTokens: 0n, cacheWriteTokens: 0n },
  { inputTokens: 250_001n, outputTokens: 3n, cachedInputTokens: 1001n, cacheWriteTokens: 77n },
];

export class PriceBookError extends Error {
  override readonly name = "PriceBookError";
}

/**
 * Asks Heidrun for the price of every target (GetPricingConfig), quotes a few usages both locally
 * (calculateCost) and remotely (CalculatePricing) to prove the two agree, and learns each provider's
 * commission rate (CalculateSettlement).
 */
export async function loadPriceBook(
  client: HeidrunClient,
  targets: readonly Target[],
  options: { roundingIncrementMicros: bigint; runId: string },
): Promise<PriceBook> {
  const book: PriceBook = {
    prices: new Map(),
    commissionBps: new Map(),
    roundingIncrementMicros: options.roundingIncrementMicros,
    quoteDifferences: [],
  };
  let probe = 0;
  for (const target of targets) {
    const key = targetKey(target);
    if (book.prices.has(key)) continue;
    const answer = await client.call(
      "pricing.getPricingConfig",
      client.pricing.getPricingConfig.bind(client.pricing),
      { providerId: target.providerId, model: target.model, at: undefined },
      false,
    );
    if (!answer.ok) throw new PriceBookError(`GetPricingConfig ${key}: ${answer.message}`);
    const config = answer.response.prices[0];
    const price = config ? toPriceVersion(config) : undefined;
    book.prices.set(key, price);
    if (!price) continue;
    for (const usage of PROBES) {
      const quote = await client.call(
        "pricing.calculatePricing",
        client.pricing.calculatePricing.bind(client.pricing),
        { requestId: `sim-${options.runId}-quote-${probe++}`, ...target, usage, at: undefined },
        false,
      );
      if (!quote.ok) throw new PriceBookError(`CalculatePricing ${key}: ${quote.message}`);
      const local = calculateCost(usage, price, options.roundingIncrementMicros).totalCostMicros;
      if (quote.response.totalCostMicros !== local) {
        book.quoteDifferences.push(
          `quote ${key} ${usage.inputTokens}/${usage.outputTokens} tokens: Heidrun ${quote.response.totalCostMicros}, ` +
            `local ${local} micros (is the rounding increment ${options.roundingIncrementMicros}?)`,
        );
      }
    }
    if (!book.commissionBps.has(target.providerId)) {
      const split = await client.call(
        "settlement.calculateSettlement",
        client.settlement.calculateSettlement.bind(client.settlement),
        {
          requestId: `sim-${options.runId}-split-${probe++}`,
          totalCostMicros: 1_000_000n,
          providerId: target.providerId,
        },
        false,
      );
      if (!split.ok) throw new PriceBookError(`CalculateSettlement ${target.providerId}: ${split.message}`);
      book.commissionBps.set(target.providerId, split.response.commissionRateBps);
    }
  }
  if (![...book.prices.values()].some((price) => price !== undefined)) {
    throw new PriceBookError(
      "none of the simulated models has a price; load the example catalog first: " +
        "npm run heidrun -- prices import config/prices.example.json",
    );
  }
  return book;
}
