import { DomainError } from "@heidrun/core";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { loadPriceVersions, type PriceInput, pricesInEffect, setPrice } from "./prices";

const ctx = useTestContext();

const JAN = new Date("2025-01-01T00:00:00.000Z");
const MAR = new Date("2025-03-01T00:00:00.000Z");

function price(overrides: Partial<PriceInput> = {}): PriceInput {
  return {
    providerId: "acme",
    model: "m1",
    inputMicrosPerMtok: 150_000n,
    outputMicrosPerMtok: 600_000n,
    effectiveFrom: JAN,
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
}

describe("setPrice", () => {
  it("assigns increasing versions per key and records price.set in the audit trail", async () => {
    const { db } = ctx();
    const first = await setPrice(db, price(), { requestId: "p-1", actor: "admin-key" });
    const second = await setPrice(db, price({ inputMicrosPerMtok: 200_000n, effectiveFrom: MAR }), {
      requestId: "p-2",
      actor: "admin-key",
    });
    const other = await setPrice(db, price({ model: "*" }), { requestId: "p-3", actor: "admin-key" });
    expect([first.created, first.price.version, second.price.version, other.price.version]).toEqual([
      true,
      1n,
      2n,
      1n,
    ]);
    expect(second.price).toMatchObject({ currency: "USD", inputMicrosPerMtok: 200_000n, effectiveFrom: MAR });

    const audit = await db.execute(sql`
      SELECT event_type, request_id, provider_id, actor, payload FROM audit_events WHERE request_id = 'p-2'`);
    const rows = audit.rows.map((row) => ({ ...row, payload: JSON.parse(String(row.payload)) }));
    expect(rows).toEqual([
      {
        event_type: "price.set",
        request_id: "p-2",
        provider_id: "acme",
        actor: "admin-key",
        payload: {
          priceVersionId: second.price.id.toString(),
          model: "m1",
          version: "2",
          inputMicrosPerMtok: "200000",
          outputMicrosPerMtok: "600000",
          cachedInputMicrosPerMtok: null,
          cacheWriteMicrosPerMtok: null,
          tiers: [],
          currency: "USD",
          effectiveFrom: "2025-03-01T00:00:00.000Z",
        },
      },
    ]);
  });

  it("replays the first answer for the same request_id and arguments, ALREADY_EXISTS for others", async () => {
    const { db } = ctx();
    const input = price({ model: "replay", effectiveFrom: undefined });
    const first = await setPrice(db, input, { requestId: "r-1", actor: "a", now: () => JAN });
    const again = await setPrice(db, input, { requestId: "r-1", actor: "a", now: () => MAR });
    expect(again).toEqual({ price: first.price, created: false });
    expect(first.price.effectiveFrom).toEqual(JAN);

    const conflict = await rejection(
      setPrice(db, { ...input, outputMicrosPerMtok: 1n }, { requestId: "r-1", actor: "a" }),
    );
    expect([conflict.code, conflict.field]).toEqual(["ALREADY_EXISTS", "request_id"]);
    const rows = await db.execute(sql`SELECT count(*)::int AS n FROM price_versions WHERE model = 'replay'`);
    expect(rows.rows).toEqual([{ n: 1 }]);
  });

  it("gives concurrent writers of one key distinct consecutive versions", async () => {
    const { db } = ctx();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        setPrice(db, price({ model: "busy", inputMicrosPerMtok: BigInt(i) }), {
          requestId: `c-${i}`,
          actor: "a",
        }),
      ),
    );
    const versions = results.map((r) => r.price.version).sort((a, b) => (a < b ? -1 : 1));
    expect(versions).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  });

  it("answers concurrent twins of one request_id with one version", async () => {
    const { db } = ctx();
    const input = price({ model: "twins" });
    const [a, b] = await Promise.all([
      setPrice(db, input, { requestId: "twin", actor: "a" }),
      setPrice(db, input, { requestId: "twin", actor: "a" }),
    ]);
    expect(a.price).toEqual(b.price);
    expect([a.created, b.created].sort()).toEqual([false, true]);
  });

  it("rejects a foreign currency and invalid prices naming the field", async () => {
    const { db } = ctx();
    const euro = await rejection(setPrice(db, price({ currency: "EUR" }), { requestId: "x-1", actor: "a" }));
    expect([euro.code, euro.field]).toEqual(["INVALID_ARGUMENT", "price.currency"]);
    const negative = await rejection(
      setPrice(db, price({ outputMicrosPerMtok: -1n }), { requestId: "x-2", actor: "a" }),
    );
    expect(negative.field).toBe("price.output_micros_per_mtok");
    const tiers = await rejection(
      setPrice(db, price({ tiers: [{ aboveInputTokens: 10n, input: 1n }, { aboveInputTokens: 10n }] }), {
        requestId: "x-3",
        actor: "a",
      }),
    );
    expect(tiers.code).toBe("INVALID_ARGUMENT");
  });

  it("stores tiers with exact amounts and reads them back", async () => {
    const { db } = ctx();
    const tiers = [
      {
        aboveInputTokens: 200_000n,
        input: 6_000_000n,
        output: 22_500_000n,
        cachedInput: null,
        cacheWrite: null,
      },
    ];
    const { price: stored } = await setPrice(
      db,
      price({ providerId: "tiered", model: "big", cacheWriteMicrosPerMtok: 3_750_000n, tiers }),
      { requestId: "t-1", actor: "a" },
    );
    const [loaded] = await loadPriceVersions(db, { afterId: stored.id - 1n });
    expect(loaded).toEqual(stored);
    expect(loaded?.tiers).toEqual(tiers);
  });
});

describe("pricesInEffect", () => {
  it("lists each key's version in effect at a time, of one provider", async () => {
    const { db } = ctx();
    await setPrice(db, price({ providerId: "eff", model: "a" }), { requestId: "e-1", actor: "a" });
    await setPrice(db, price({ providerId: "eff", model: "a", inputMicrosPerMtok: 1n, effectiveFrom: MAR }), {
      requestId: "e-2",
      actor: "a",
    });
    await setPrice(db, price({ providerId: "eff", model: "b", effectiveFrom: MAR }), {
      requestId: "e-3",
      actor: "a",
    });
    const february = await pricesInEffect(db, new Date("2025-02-01T00:00:00Z"), "eff");
    expect(february.map((p) => [p.model, p.version])).toEqual([["a", 1n]]);
    const april = await pricesInEffect(db, new Date("2025-04-01T00:00:00Z"), "eff");
    expect(april.map((p) => [p.model, p.version])).toEqual([
      ["a", 2n],
      ["b", 1n],
    ]);
  });
});
