import { DomainError } from "@heidrun/core";
import type { IngressDeps, PricingHandlers } from "../context";

/**
 * heidrun.v1.PricingService (proto/heidrun/v1/pricing.proto has each method's behaviour).
 *
 * Contract for implementers: each method is `async (request, ctx) => response`. The request is the ts-proto
 * message, already authenticated and validated by validation.ts (int64 fields are bigint, timestamps Date);
 * `ctx` is a CallContext (context.ts): `{ requestId?, principal: { keyId, scope }, deadline?, log, signal }`.
 * Return the response message, or throw a DomainError from @heidrun/core: its code becomes the gRPC status
 * (INVALID_ARGUMENT with `field` also carries a google.rpc.BadRequest). Anything else thrown is reported to the
 * caller as INTERNAL without its text, and logged with its stack.
 */
export function createPricingHandlers(_deps: IngressDeps): PricingHandlers {
  return {
    async calculatePricing(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "PricingService.CalculatePricing is not implemented yet");
    },
    async getPricingConfig(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "PricingService.GetPricingConfig is not implemented yet");
    },
    async setPricingConfig(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "PricingService.SetPricingConfig is not implemented yet");
    },
  };
}
