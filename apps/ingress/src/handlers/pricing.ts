import { DomainError, type PriceTier } from "@heidrun/core";
import {
  type PriceCache,
  type PricedVersion,
  type PriceInput,
  publishPriceChange,
  setPrice,
} from "@heidrun/db";
import type { PriceConfig, PriceTier as WirePriceTier } from "@heidrun/proto";
import type { IngressDeps, PricingHandlers } from "../context";

/** What the pricing handlers use of the price cache (PriceCache of @heidrun/db). */
export type PricingCatalog = Pick<PriceCache, "channel" | "quote" | "lookup" | "inEffect" | "add">;

function wireTier(tier: PriceTier): WirePriceTier {
  return {
    aboveInputTokens: tier.aboveInputTokens,
    inputMicrosPerMtok: tier.input ?? undefined,
    outputMicrosPerMtok: tier.output ?? undefined,
    cachedInputMicrosPerMtok: tier.cachedInput ?? undefined,
    cacheWriteMicrosPerMtok: tier.cacheWrite ?? undefined,
  };
}

export function toPriceConfig(price: PricedVersion): PriceConfig {
  return {
    providerId: price.providerId,
    model: price.model,
    inputMicrosPerMtok: price.inputMicrosPerMtok,
    outputMicrosPerMtok: price.outputMicrosPerMtok,
    cachedInputMicrosPerMtok: price.cachedInputMicrosPerMtok ?? undefined,
    effectiveFrom: price.effectiveFrom,
    version: price.version,
    currency: price.currency,
    cacheWriteMicrosPerMtok: price.cacheWriteMicrosPerMtok ?? undefined,
    tiers: price.tiers.map(wireTier),
  };
}

/** SetPricingConfig's price as a new version's input; the caller's `version` is Heidrun's to assign. */
export function fromPriceConfig(price: PriceConfig): PriceInput {
  return {
    providerId: price.providerId,
    model: price.model,
    inputMicrosPerMtok: price.inputMicrosPerMtok,
    outputMicrosPerMtok: price.outputMicrosPerMtok,
    cachedInputMicrosPerMtok: price.cachedInputMicrosPerMtok ?? null,
    cacheWriteMicrosPerMtok: price.cacheWriteMicrosPerMtok ?? null,
    tiers: price.tiers.map((tier) => ({
      aboveInputTokens: tier.aboveInputTokens,
      input: tier.inputMicrosPerMtok ?? null,
      output: tier.outputMicrosPerMtok ?? null,
      cachedInput: tier.cachedInputMicrosPerMtok ?? null,
      cacheWrite: tier.cacheWriteMicrosPerMtok ?? null,
    })),
    effectiveFrom: price.effectiveFrom ?? null,
    currency: price.currency || null,
  };
}

/**
 * heidrun.v1.PricingService. Quotes and reads come from the in-memory price cache (no database round trip);
 * SetPricingConfig writes a version (audited), shows it in this process at once and announces it to the others.
 */
export function createPricingHandlers(deps: IngressDeps): PricingHandlers {
  const catalog: PricingCatalog = deps.priceCache;
  return {
    async calculatePricing(request, _ctx) {
      if (request.usage === undefined) throw DomainError.invalid("usage", "is required");
      const increment = deps.config.current().settings.roundingIncrementMicros;
      const at = request.at ?? new Date();
      const { price, cost } = catalog.quote(request.providerId, request.model, request.usage, at, increment);
      return {
        requestId: request.requestId,
        totalCostMicros: cost.totalCostMicros,
        inputCostMicros: cost.inputCostMicros,
        outputCostMicros: cost.outputCostMicros,
        cachedInputCostMicros: cost.cachedInputCostMicros,
        roundingMicros: cost.roundingMicros,
        price: toPriceConfig(price),
        cacheWriteCostMicros: cost.cacheWriteCostMicros,
      };
    },

    async getPricingConfig(request, _ctx) {
      const at = request.at ?? new Date();
      if (request.model === "") {
        return { prices: catalog.inEffect(at, request.providerId).map(toPriceConfig) };
      }
      // A named model answers with the price that would apply to it: its own, else the provider's "*".
      const price = catalog.lookup(request.providerId, request.model, at);
      return { prices: price === undefined ? [] : [toPriceConfig(price)] };
    },

    async setPricingConfig(request, ctx) {
      if (request.price === undefined) throw DomainError.invalid("price", "is required");
      const { price } = await setPrice(deps.db, fromPriceConfig(request.price), {
        requestId: request.requestId,
        actor: ctx.principal.keyId,
        currency: deps.config.current().settings.currency,
      });
      catalog.add(price);
      // Also for a replay: the first answer's announcement may have been lost. Caches converge by their
      // periodic refresh when Redis is down, so a failed announcement does not fail the call.
      await publishPriceChange(deps.redis, catalog.channel, [price.id]).catch((error: unknown) => {
        ctx.log.warn({ err: error, priceVersionId: price.id.toString() }, "price change not announced");
      });
      return { price: toPriceConfig(price) };
    },
  };
}
