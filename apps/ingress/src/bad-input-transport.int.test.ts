import { jobIdFor } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LARGEST_PRICING } from "../../../faults/bad-input/cases";
import {
  ADMIN_KEY,
  IngressUnderTest,
  metadataFor,
  SERVICES,
  type ServiceName,
  type Snapshot,
  YGGDRASIL_KEY,
} from "../../../faults/bad-input/harness";

/**
 * Bad input below the message: keys and scopes, bytes that are not protobuf, messages over 4 MiB, no deadline;
 * and inputs that look hostile but are legal (`:` in ids, the largest amounts), which must work exactly.
 */
const ctx = useTestContext();
let t: IngressUnderTest;

beforeAll(async () => {
  // A short cap, so a call without a deadline that meets a blocked row is answered soon.
  t = await IngressUnderTest.start(ctx(), { ingress: { maxDeadlineMs: 1500 } });
});
afterAll(() => t?.close());

const EVERY_METHOD = (Object.keys(SERVICES) as ServiceName[]).flatMap((service) =>
  Object.keys(SERVICES[service]).map((method) => [`${service}.${method}`, service, method] as const),
);
const ADMIN_ONLY = [
  "pricing.setPricingConfig",
  "account.setCreditLimit",
  "settlement.rerunFailedSettlements",
];
const MIB = 1024 * 1024;

async function unchangedAfter(run: () => Promise<{ code: string }>): Promise<string> {
  const before: Snapshot = await t.snapshot();
  const { code } = await run();
  expect(await t.snapshot()).toEqual(before);
  expect((await t.call("account", "getBalance", { accountId: "acct-1" })).code).toBe("OK");
  return code;
}

describe("bad input below the message", () => {
  it("has all 17 methods", () => expect(EVERY_METHOD).toHaveLength(17));

  it.each(EVERY_METHOD)(
    "%s without a key, with an unknown key or another scheme: UNAUTHENTICATED",
    async (_, s, m) => {
      for (const key of [
        undefined,
        "Bearer not-a-key-we-issued-000",
        `Basic ${ADMIN_KEY.key}`,
        `Bearer ${"k".repeat(10_240)}`,
      ]) {
        expect(await unchangedAfter(() => t.callRaw(s, m, Buffer.alloc(0), metadataFor(key)))).toBe(
          "UNAUTHENTICATED",
        );
      }
    },
  );

  it.each(EVERY_METHOD.filter(([name]) => ADMIN_ONLY.includes(name)))(
    "%s with a yggdrasil key: PERMISSION_DENIED",
    async (_, s, m) => {
      expect(await unchangedAfter(() => t.callRaw(s, m, Buffer.alloc(0), metadataFor(YGGDRASIL_KEY)))).toBe(
        "PERMISSION_DENIED",
      );
    },
  );

  it.each(EVERY_METHOD)("%s with bytes that are not protobuf: INVALID_ARGUMENT", async (_, s, m) => {
    // A length-delimited field 1 that claims far more bytes than follow.
    const truncated = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41]);
    expect(await unchangedAfter(() => t.callRaw(s, m, truncated))).toBe("INVALID_ARGUMENT");
  });

  it.each(EVERY_METHOD)("%s with a message over 4 MiB: RESOURCE_EXHAUSTED", async (_, s, m) => {
    // Field 15 (unknown to every message), 5 MiB long: only the size matters.
    const size = 5 * MIB;
    const length = [];
    for (let rest = size; rest > 0; rest >>= 7) length.push((rest & 0x7f) | (rest > 0x7f ? 0x80 : 0));
    const header = Buffer.from([0x7a, ...length]);
    const oversized = Buffer.concat([header, Buffer.alloc(size, 0x61)]);
    expect(await unchangedAfter(() => t.callRaw(s, m, oversized))).toBe("RESOURCE_EXHAUSTED");
  });

  it("invalid UTF-8 in an id: INVALID_ARGUMENT naming it", async () => {
    // CreditAccount { request_id: "r1", account_id: <ff fe>, amount_micros: 5 }
    const bytes = Buffer.from([0x0a, 0x02, 0x72, 0x31, 0x12, 0x02, 0xff, 0xfe, 0x18, 0x05]);
    const before = await t.snapshot();
    const answer = await t.callRaw("account", "creditAccount", bytes);
    expect({ code: answer.code, named: answer.details.split(":")[0] }).toEqual({
      code: "INVALID_ARGUMENT",
      named: "account_id",
    });
    expect(await t.snapshot()).toEqual(before);
  });
});

describe("no deadline", () => {
  it("a call without a deadline that meets a locked row ends at the ingress cap, and its retry finds one hold", async () => {
    const locker = await ctx().pool.connect();
    const request = {
      requestId: "nodeadline-1",
      accountId: "acct-1",
      providerId: "openai",
      model: "gpt-4o-mini",
      estimatedInputTokens: 10n,
      maxOutputTokens: 10n,
      promptText: "",
      messages: [],
      ttlSeconds: 60,
    };
    try {
      await locker.query("BEGIN");
      await locker.query("SELECT 1 FROM accounts WHERE account_id = 'acct-1' FOR UPDATE");
      const blocked = await t.call("preauth", "preAuthorize", request);
      expect(blocked.code).toBe("DEADLINE_EXCEEDED");
    } finally {
      await locker.query("ROLLBACK");
      locker.release();
    }
    const retried = await t.call("preauth", "preAuthorize", request);
    expect(retried.code).toBe("OK");
    const { rows } = await ctx().pool.query(
      "SELECT count(*)::int AS n FROM preauths WHERE request_id = 'nodeadline-1'",
    );
    expect(rows[0].n).toBe(1);
  });
});

describe("hostile-looking but legal", () => {
  it("`:` in ids is accepted, queued under an escaped job id, and answered as a duplicate the second time", async () => {
    const request = {
      requestId: "ygg:req:1",
      accountId: "acct:1",
      providerId: "openai",
      model: "ft:gpt-4o-mini:acme:v2",
      usage: { inputTokens: 10n, outputTokens: 5n, cachedInputTokens: 0n, cacheWriteTokens: 0n },
    };
    expect((await t.call("token", "trackTokens", request)).response).toEqual({
      requestId: "ygg:req:1",
      accepted: true,
      duplicate: false,
    });
    expect((await t.call("token", "trackTokens", request)).response).toEqual({
      requestId: "ygg:req:1",
      accepted: true,
      duplicate: true,
    });
    expect(jobIdFor("ygg:req:1")).toBe("req~ygg~req~1");
    expect(await t.redis.exists(`${ctx().redisPrefix}:settlements:req~ygg~req~1`)).toBe(1);
    const credited = await t.call("account", "creditAccount", {
      requestId: ":",
      accountId: ":",
      amountMicros: 7n,
      reference: "",
    });
    expect(credited.code).toBe("OK");
    const balance = await t.call("account", "getBalance", { accountId: ":" });
    expect(balance.response).toMatchObject({ balance: { accountId: ":", balanceMicros: 7n } });
  });

  it("tokens × price at the largest allowed values is exact: 2 × 10^18 micros", async () => {
    const answer = await t.call("pricing", "calculatePricing", LARGEST_PRICING);
    expect(answer.response).toMatchObject({
      totalCostMicros: 2_000_000_000_000_000_000n,
      inputCostMicros: 1_000_000_000_000_000_000n,
      outputCostMicros: 1_000_000_000_000_000_000n,
      roundingMicros: 0n,
    });
    const split = await t.call("settlement", "calculateSettlement", {
      requestId: "",
      providerId: "priciest",
      totalCostMicros: 10n ** 15n,
    });
    expect(split.response).toMatchObject({
      totalCostMicros: 1_000_000_000_000_000n,
      companyFeeMicros: 150_000_000_000_000n,
      providerEarningsMicros: 850_000_000_000_000n,
    });
  });
});
