import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { auditHash, auditRecordText, canonicalJson, GENESIS_HASH } from "./audit-canonical";

/** What an audit payload may hold: amounts as bigint, counts as safe integers, no fractions. */
const { recordable } = fc.letrec((tie) => ({
  recordable: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.bigInt(),
    fc.string({ unit: "binary" }),
    fc.array(tie("recordable")),
    fc.dictionary(fc.string({ unit: "binary" }), tie("recordable")),
  ),
}));

describe("canonicalJson", () => {
  it("sorts keys, drops whitespace and undefined, and writes bigints as exact decimal strings", () => {
    const value = {
      z: 1,
      a: { y: [3n, null, undefined, "é\n"], b: true },
      amountMicros: 9_007_199_254_740_993n,
      negative: -12n,
      skipped: undefined,
    };
    expect(canonicalJson(value)).toBe(
      '{"a":{"b":true,"y":["3",null,null,"é\\n"]},"amountMicros":"9007199254740993","negative":"-12","z":1}',
    );
  });

  it("rejects what would not round-trip exactly, naming the field", () => {
    expect(() => canonicalJson({ rate: 0.5 })).toThrow("data.rate: 0.5 is not a safe integer (use bigint)");
    expect(() => canonicalJson({ big: 2 ** 60 })).toThrow(
      "data.big: 1152921504606847000 is not a safe integer",
    );
    expect(() => canonicalJson({ s: "a\uD800b" })).toThrow("data.s: contains a lone UTF-16 surrogate");
    expect(() => canonicalJson({ m: new Map() })).toThrow("data.m: is not a plain object");
    expect(() => canonicalJson({ f: () => 1 })).toThrow("data.f: a function cannot be recorded");
  });

  it("is idempotent through JSON.parse", () => {
    fc.assert(
      fc.property(recordable, (value) => {
        const once = canonicalJson(value);
        expect(canonicalJson(JSON.parse(once))).toBe(once);
      }),
    );
  });
});

describe("audit record text", () => {
  const optional = fc.option(fc.string({ unit: "binary" }), { nil: null });
  it("is the canonical JSON of the whole record, with data embedded as stored", () => {
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.bigInt({ min: 1n, max: 2n ** 62n }),
          type: fc.string({ unit: "binary" }),
          requestId: optional,
          preauthId: optional,
          accountId: optional,
          providerId: optional,
          actor: fc.string({ unit: "binary" }),
          data: fc.dictionary(
            fc.string({ unit: "binary" }),
            fc.oneof(fc.bigInt(), fc.string({ unit: "binary" })),
          ),
        }),
        (r) => {
          const recordedAt = "2026-01-02T03:04:05.678901Z";
          const payload = canonicalJson(r.data);
          const text = auditRecordText({ ...r, payload, recordedAt });
          const whole = canonicalJson({
            seq: r.seq,
            type: r.type,
            request_id: r.requestId,
            preauth_id: r.preauthId,
            account_id: r.accountId,
            provider_id: r.providerId,
            actor: r.actor,
            data: r.data,
            recorded_at: recordedAt,
          });
          expect(text).toBe(whole);
        },
      ),
    );
  });

  it("hashes as sha256 of the previous hash followed by the record", () => {
    const record = auditRecordText({
      seq: 1n,
      type: "account.credited",
      requestId: "req-1",
      preauthId: null,
      accountId: "acct-1",
      providerId: null,
      actor: "admin:ops",
      payload: canonicalJson({ amountMicros: 5_000_000n }),
      recordedAt: "2026-01-02T03:04:05.678901Z",
    });
    expect(record).toBe(
      '{"account_id":"acct-1","actor":"admin:ops","data":{"amountMicros":"5000000"},"preauth_id":null,' +
        '"provider_id":null,"recorded_at":"2026-01-02T03:04:05.678901Z","request_id":"req-1","seq":"1","type":"account.credited"}',
    );
    const expected = createHash("sha256")
      .update(`${"0".repeat(64)}${record}`)
      .digest("hex");
    expect(auditHash(GENESIS_HASH, record)).toBe(expected);
  });
});
