import { createHash, timingSafeEqual } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import type { ApiKey } from "@heidrun/config";
import { DomainError } from "@heidrun/core";
import type { Principal } from "./context";
import { type PeerIdentity, subjectMatches } from "./tls-peer";

/** Who calls when no keys are configured (auth off): allowed everything, and logs say so. */
export const ANONYMOUS_PRINCIPAL: Principal = Object.freeze({ keyId: "anonymous", scope: "admin" });

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

export interface Authenticator {
  /** False when no API keys are configured: every call is let through as ANONYMOUS_PRINCIPAL. */
  readonly enabled: boolean;
  /** Throws UNAUTHENTICATED for a missing, malformed or unknown key. */
  authenticate(metadata: Metadata): Principal;
}

const VERIFIED_KEYS_CACHED = 64;

function digest(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

export interface CertificateBinding {
  /** API key id → the client certificate subject(s) it may be used with (settings.tls.keySubjects). */
  keySubjects: () => Readonly<Record<string, string | readonly string[]>>;
  /** The call's verified client certificate (tls-peer.ts). */
  peerOf: (metadata: Metadata) => PeerIdentity | undefined;
}

/** A key bound to certificate subjects is only good over mutual TLS with a certificate of one of them. */
function checkBinding(principal: Principal, metadata: Metadata, binding: CertificateBinding): void {
  const subjects = binding.keySubjects()[principal.keyId];
  if (subjects === undefined) return;
  const peer = binding.peerOf(metadata);
  if (!peer) {
    throw new DomainError(
      "UNAUTHENTICATED",
      `API key ${principal.keyId} is bound to a client certificate: call over mutual TLS with it`,
    );
  }
  const allowed = typeof subjects === "string" ? [subjects] : subjects;
  if (!allowed.some((subject) => subjectMatches(subject, peer))) {
    throw new DomainError(
      "PERMISSION_DENIED",
      `API key ${principal.keyId} may not be used with the client certificate ${peer.subject}`,
    );
  }
}

/**
 * Keys are compared as SHA-256 digests so every comparison has the same length, with timingSafeEqual and
 * without stopping at the first match, so response time says nothing about how much of a key was right.
 * With a binding, a key listed in it is also checked against the call's client certificate.
 */
export function createAuthenticator(keys: readonly ApiKey[], binding?: CertificateBinding): Authenticator {
  const known = keys.map((key) => ({
    digest: digest(key.key),
    principal: { keyId: key.id, scope: key.scope },
  }));
  // Keys already proven valid skip the digest on later calls (it cost ~7 % of a quote's CPU); unknown keys
  // always take the constant-time path, and the cache is bounded so junk keys cannot grow it.
  const verified = new Map<string, Principal>();
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
      const token = match[1]!;
      const cached = verified.get(token);
      if (cached) {
        if (binding) checkBinding(cached, metadata, binding);
        return cached;
      }
      const presented = digest(token);
      let found: Principal | undefined;
      for (const candidate of known) {
        if (timingSafeEqual(candidate.digest, presented)) found = candidate.principal;
      }
      if (!found) throw new DomainError("UNAUTHENTICATED", "unknown API key");
      if (verified.size < VERIFIED_KEYS_CACHED) verified.set(token, found);
      if (binding) checkBinding(found, metadata, binding);
      return found;
    },
  };
}

export function authorize(principal: Principal, adminOnly: boolean, method: string): void {
  if (adminOnly && principal.scope !== "admin") {
    throw new DomainError("PERMISSION_DENIED", `${method} needs an API key with the admin scope`);
  }
}
