import { DomainError } from "@heidrun/core";
import type { IngressDeps, SettlementHandlers } from "../context";

/**
 * heidrun.v1.SettlementService (proto/heidrun/v1/settlement.proto has each method's behaviour).
 *
 * Contract for implementers: each method is `async (request, ctx) => response`. The request is the ts-proto
 * message, already authenticated and validated by validation.ts (int64 fields are bigint, timestamps Date);
 * `ctx` is a CallContext (context.ts): `{ requestId?, principal: { keyId, scope }, deadline?, log, signal }`.
 * Return the response message, or throw a DomainError from @heidrun/core: its code becomes the gRPC status
 * (INVALID_ARGUMENT with `field` also carries a google.rpc.BadRequest). Anything else thrown is reported to the
 * caller as INTERNAL without its text, and logged with its stack.
 */
export function createSettlementHandlers(_deps: IngressDeps): SettlementHandlers {
  return {
    async calculateSettlement(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "SettlementService.CalculateSettlement is not implemented yet");
    },
    async getSettlementHistory(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "SettlementService.GetSettlementHistory is not implemented yet");
    },
    async rerunFailedSettlements(_request, _ctx) {
      throw new DomainError(
        "UNIMPLEMENTED",
        "SettlementService.RerunFailedSettlements is not implemented yet",
      );
    },
  };
}
