import { DomainError } from "@heidrun/core";
import type { IngressDeps, TokenHandlers } from "../context";

/**
 * heidrun.v1.TokenService (proto/heidrun/v1/token.proto has each method's behaviour).
 *
 * Contract for implementers: each method is `async (request, ctx) => response`. The request is the ts-proto
 * message, already authenticated and validated by validation.ts (int64 fields are bigint, timestamps Date);
 * `ctx` is a CallContext (context.ts): `{ requestId?, principal: { keyId, scope }, deadline?, log, signal }`.
 * Return the response message, or throw a DomainError from @heidrun/core: its code becomes the gRPC status
 * (INVALID_ARGUMENT with `field` also carries a google.rpc.BadRequest). Anything else thrown is reported to the
 * caller as INTERNAL without its text, and logged with its stack.
 */
export function createTokenHandlers(_deps: IngressDeps): TokenHandlers {
  return {
    async countTokens(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "TokenService.CountTokens is not implemented yet");
    },
    async trackTokens(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "TokenService.TrackTokens is not implemented yet");
    },
    async trackTokensBatch(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "TokenService.TrackTokensBatch is not implemented yet");
    },
    async aggregateTokens(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "TokenService.AggregateTokens is not implemented yet");
    },
  };
}
