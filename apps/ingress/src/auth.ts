import { createHash, timingSafeEqual } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import type { ApiKey } from "@heidrun/config";
import { DomainError } from "@heidrun/core";
import type { Principal } from "./context";

/** Who calls when no keys are configured (auth off): allowed everything, and logs say so. */
export const ANONYMOUS_PRINCIPAL: Principal = Object.freeze({ keyId: "anonymous", scope: "admin" });

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

export interface Authenticator {
  /** False when no API keys are configured: every call is let through as ANONYMOUS_PRINCIPAL. */
  readonly enabled: boolean;
  /** Throws UNAUTHENTICATED for a missing, malformed or unknown key. */
  authenticate(metadata: Metadata): Principal;
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

/**
 * Keys are compared as SHA-256 digests so every comparison has the same length, with timingSafeEqual and
 * without stopping at the first match, so response time says nothing about how much of a key was right.
 */
export function createAuthenticator(keys: readonly ApiKey[]): Authenticator {
  const known = keys.map((key) => ({
    digest: digest(key.key),
    principal: { keyId: key.id, scope: key.scope },
  }));
  return {
    enabled: known.length > 0,
    authenticate(metadata) {
      if (known.length === 0) return ANONYMOUS_PRINCIPAL;
      const header = metadata.get("authorization")[0];
      const match = typeof header === "string" ? BEARER.exec(header) : null;
      if (!match) {
        throw new DomainError(
          "UNAUTHENTICATED",
          "missing API key: send metadata `authorization: Bearer <key>`",
        );
      }
      const presented = digest(match[1]!);
      let found: Principal | undefined;
      for (const candidate of known) {
        if (timingSafeEqual(candidate.digest, presented)) found = candidate.principal;
      }
      if (!found) throw new DomainError("UNAUTHENTICATED", "unknown API key");
      return found;
    },
  };
}

export function authorize(principal: Principal, adminOnly: boolean, method: string): void {
  if (adminOnly && principal.scope !== "admin") {
    throw new DomainError("PERMISSION_DENIED", `${method} needs an API key with the admin scope`);
  }
}
