import { Metadata } from "@grpc/grpc-js";
import type { DomainError } from "@heidrun/core";
import { describe, expect, it } from "vitest";
import { createAuthenticator } from "./auth";
import { type PeerIdentity, subjectMatches } from "./tls-peer";

function peer(subject: Record<string, string | string[]>): PeerIdentity {
  const attributes = new Map<string, string[]>();
  for (const [name, value] of Object.entries(subject)) {
    attributes.set(name.toLowerCase(), Array.isArray(value) ? value : [value]);
  }
  return { subject: "(test)", attributes, serialNumber: "01" };
}

describe("subjectMatches", () => {
  const ygg = peer({ CN: "yggdrasil", O: "Heidrun", OU: ["ops", "billing"] });

  it.each([
    ["CN=yggdrasil", true],
    ["CN=yggdrasil, O=Heidrun", true],
    ["cn=yggdrasil,o=Heidrun", true],
    ["/CN=yggdrasil/O=Heidrun", true],
    ["OU=billing", true],
    ["CN=Yggdrasil", false],
    ["CN=yggdrasil, O=Other", false],
    ["CN=ygg", false],
    ["C=SE", false],
    ["yggdrasil", false],
    ["", false],
  ])("%j → %s", (binding, expected) => {
    expect(subjectMatches(binding, ygg)).toBe(expected);
  });
});

describe("an API key bound to certificate subjects", () => {
  const key = { id: "ygg00001", key: "yggdrasil-test-key-0001", scope: "yggdrasil" as const };
  const other = { id: "adm00001", key: "admin-test-key-00000001", scope: "admin" as const };
  const withKey = () => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${key.key}`);
    return metadata;
  };
  const attempt = (presented: PeerIdentity | undefined, subjects: string | string[] = "CN=yggdrasil") => {
    const authenticator = createAuthenticator([key, other], {
      keySubjects: () => ({ [key.id]: subjects }),
      peerOf: () => presented,
    });
    try {
      return authenticator.authenticate(withKey());
    } catch (error) {
      const { code, message } = error as DomainError;
      return { code, message };
    }
  };

  it("is accepted with a certificate of a listed subject", () => {
    expect(attempt(peer({ CN: "yggdrasil" }))).toEqual({ keyId: key.id, scope: "yggdrasil" });
    expect(attempt(peer({ CN: "ygg-2" }), ["CN=yggdrasil", "CN=ygg-2"])).toEqual({
      keyId: key.id,
      scope: "yggdrasil",
    });
  });

  it("is PERMISSION_DENIED with another subject and UNAUTHENTICATED without a certificate", () => {
    expect(attempt({ ...peer({ CN: "intruder" }), subject: "CN=intruder" })).toEqual({
      code: "PERMISSION_DENIED",
      message: "API key ygg00001 may not be used with the client certificate CN=intruder",
    });
    expect(attempt(undefined)).toEqual({
      code: "UNAUTHENTICATED",
      message: "API key ygg00001 is bound to a client certificate: call over mutual TLS with it",
    });
  });
});
