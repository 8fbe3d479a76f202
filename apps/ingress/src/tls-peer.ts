import type { PeerCertificate } from "node:tls";
import {
  type Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from "@grpc/grpc-js";

type AuthContext = ReturnType<ServerInterceptingCallInterface["getAuthContext"]>;

/** The verified client certificate of a mutual-TLS call. */
export interface PeerIdentity {
  /** `CN=yggdrasil, O=Heidrun`: the subject's attributes in certificate order. */
  subject: string;
  /** Attribute name (lower case) → its values. */
  attributes: ReadonlyMap<string, readonly string[]>;
  serialNumber: string;
}

function identityOf(certificate: PeerCertificate): PeerIdentity {
  const attributes = new Map<string, string[]>();
  const parts: string[] = [];
  for (const [name, value] of Object.entries(certificate.subject ?? {})) {
    const values = (Array.isArray(value) ? value : [value]).map(String);
    attributes.set(name.toLowerCase(), values);
    for (const item of values) parts.push(`${name}=${item}`);
  }
  return { subject: parts.join(", "), attributes, serialNumber: certificate.serialNumber };
}

function peerOfAuthContext(auth: AuthContext): PeerIdentity | undefined {
  return auth.sslPeerCertificate ? identityOf(auth.sslPeerCertificate) : undefined;
}

// Keyed by the call's Metadata object: the one the interceptor sees is the one the handlers get, and
// nothing a client sends can forge an entry (a metadata header could be).
const peers = new WeakMap<Metadata, PeerIdentity>();

/**
 * A server interceptor that remembers each call's verified client certificate for `peerOf`, so the
 * authenticator (which gets only the metadata) can check a key's certificate binding.
 */
export const recordPeerCertificates: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, nextMetadata) {
          const peer = peerOfAuthContext(call.getAuthContext());
          if (peer) peers.set(metadata, peer);
          nextMetadata(metadata);
        },
      });
    },
  });

/** The verified client certificate of the call with this metadata; undefined without mutual TLS. */
export function peerOf(metadata: Metadata): PeerIdentity | undefined {
  return peers.get(metadata);
}

/**
 * Whether a subject binding (`CN=yggdrasil`, `CN=yggdrasil, O=Heidrun` or OpenSSL's `/CN=yggdrasil/O=Heidrun`)
 * holds for the peer: each attribute named must have exactly that value; attributes not named are not
 * looked at. A malformed binding matches nothing.
 */
export function subjectMatches(binding: string, peer: PeerIdentity): boolean {
  const trimmed = binding.trim();
  const pieces = trimmed.startsWith("/") ? trimmed.slice(1).split("/") : trimmed.split(",");
  if (pieces.length === 0) return false;
  return pieces.every((piece) => {
    const at = piece.indexOf("=");
    if (at <= 0) return false;
    const name = piece.slice(0, at).trim().toLowerCase();
    const value = piece.slice(at + 1).trim();
    return peer.attributes.get(name)?.includes(value) === true;
  });
}
