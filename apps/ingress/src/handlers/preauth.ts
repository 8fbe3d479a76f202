import { DomainError } from "@heidrun/core";
import type { IngressDeps, PreAuthHandlers } from "../context";

/**
 * heidrun.v1.PreAuthService (proto/heidrun/v1/preauth.proto has each method's behaviour).
 *
 * Contract for implementers: each method is `async (request, ctx) => response`. The request is the ts-proto
 * message, already authenticated and validated by validation.ts (int64 fields are bigint, timestamps Date);
 * `ctx` is a CallContext (context.ts): `{ requestId?, principal: { keyId, scope }, deadline?, log, signal }`.
 * Return the response message, or throw a DomainError from @heidrun/core: its code becomes the gRPC status
 * (INVALID_ARGUMENT with `field` also carries a google.rpc.BadRequest). Anything else thrown is reported to the
 * caller as INTERNAL without its text, and logged with its stack.
 */
export function createPreAuthHandlers(_deps: IngressDeps): PreAuthHandlers {
  return {
    async preAuthorize(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "PreAuthService.PreAuthorize is not implemented yet");
    },
    async capturePreAuth(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "PreAuthService.CapturePreAuth is not implemented yet");
    },
    async cancelPreAuth(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "PreAuthService.CancelPreAuth is not implemented yet");
    },
    async getPreAuth(_request, _ctx) {
      throw new DomainError("UNIMPLEMENTED", "PreAuthService.GetPreAuth is not implemented yet");
    },
  };
}
