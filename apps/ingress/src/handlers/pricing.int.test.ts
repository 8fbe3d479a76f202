import { type ConfigStore, configStoreFor } from "@heidrun/config";
import { DomainError } from "@heidrun/core";
import { createDb, createPool, PriceCache, type PriceCacheLoad, priceChannel } from "@heidrun/db";
import { createRegistry, silentLogger } from "@heidrun/observability";
import type { PriceConfig } from "@heidrun/proto";
import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext, IngressDeps, PricingHandlers } from "../context";
import { createPricingHandlers } from "./pricing";

const ctx = useTestContext();
const JAN = new Date("2025-01-01T00:00:00.000Z");
const FEB = new Date("2025-02-01T00:00:00.000Z");
const MAR = new Date("2025-03-01T00:00:00.000Z");

const call: CallContext = {
  principal: { keyId: "adm00001", scope: "admin" },
  log: silentLogger(),
  signal: new AbortController().signal,
};

const caches: PriceCache[] = [];
let handlers: PricingHandlers;

function configStore(): ConfigStore {
  return configStoreFor(ctx(), { queue: { prefix: ctx().redisPrefix } });
}

/** What one ingress process holds: its own price cache (subscribed) over the given database handle. */
async function ingressDeps(db = ctx().db, pool = ctx().pool): Promise<IngressDeps> {
  const config = configStore();
  const priceCache = new PriceCache({
    db,
    channel: priceChannel(config.current().settings.queue.prefix),
    subscriber: ctx().newRedis(),
    refreshIntervalMs: 60_000,
  });
  caches.push(priceCache);
  await priceCache.start();
  // Only what the pricing handlers use; the other services' collaborators are not needed here.
  return {
    config,
    log: silentLogger(),
    registry: createRegistry(),
    pool,
    db,
    redis: ctx().redis,
    priceCache,
  } as never;
}

beforeAll(async () => {
  handlers = createPricingHandlers(await ingressDeps());
});
afterAll(async () => {
  await Promise.all(caches.map((cache) => cache.stop()));
});

function wirePrice(overrides: Partial<PriceConfig>): PriceConfig {
  return {
    providerId: "openai",
    model: "gpt-4o-mini",
    inputMicrosPerMtok: 150_000n,
    outputMicrosPerMtok: 600_000n,
    effectiveFrom: JAN,
    version: 0n,
    currency: "",
    tiers: [],
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

const SONNET = wirePrice({
  providerId: "anthropic",
  model: "claude-sonnet-4",
  inputMicrosPerMtok: 3_000_000n,
  outputMicrosPerMtok: 15_000_000n,
  cachedInputMicrosPerMtok: 300_000n,
  cacheWriteMicrosPerMtok: 3_750_000n,
  tiers: [
    {
      aboveInputTokens: 200_000n,
      inputMicrosPerMtok: 6_000_000n,
      outputMicrosPerMtok: 22_500_000n,
      cachedInputMicrosPerMtok: 600_000n,
      cacheWriteMicrosPerMtok: 7_500_000n,
    },
  ],
});

describe("SetPricingConfig", () => {
  it("adds versions, answers the version assigned, and replays the first answer", async () => {
    const first = await handlers.setPricingConfig(
      { requestId: "set-1", price: wirePrice({ version: 42n }) },
      call,
    );
    expect(first).toEqual({
      price: {
        providerId: "openai",
        model: "gpt-4o-mini",
        inputMicrosPerMtok: 150_000n,
        outputMicrosPerMtok: 600_000n,
        cachedInputMicrosPerMtok: undefined,
        cacheWriteMicrosPerMtok: undefined,
        effectiveFrom: JAN,
        version: 1n,
        currency: "USD",
        tiers: [],
      },
    });
    const again = await handlers.setPricingConfig(
      { requestId: "set-1", price: wirePrice({ version: 42n }) },
      call,
    );
    expect(again).toEqual(first);
    const conflict = await rejection(
      handlers.setPricingConfig({ requestId: "set-1", price: wirePrice({ inputMicrosPerMtok: 1n }) }, call),
    );
    expect(conflict.code).toBe("ALREADY_EXISTS");

    const second = await handlers.setPricingConfig(
      { requestId: "set-2", price: wirePrice({ inputMicrosPerMtok: 160_000n, effectiveFrom: MAR }) },
      call,
    );
    expect([second.price?.version, second.price?.effectiveFrom]).toEqual([2n, MAR]);
    const tiered = await handlers.setPricingConfig({ requestId: "set-3", price: SONNET }, call);
    expect(tiered.price).toEqual({ ...SONNET, version: 1n, currency: "USD" });
  });

  it("rejects another currency than the deployment's", async () => {
    const error = await rejection(
      handlers.setPricingConfig({ requestId: "set-eur", price: wirePrice({ currency: "EUR" }) }, call),
    );
    expect([error.code, error.field]).toEqual(["INVALID_ARGUMENT", "price.currency"]);
  });
});

describe("CalculatePricing", () => {
  it("prices with the version in effect at `at`, rounding the total up once", async () => {
    const usage = { inputTokens: 1001n, outputTokens: 333n, cachedInputTokens: 0n, cacheWriteTokens: 0n };
    const february = await handlers.calculatePricing(
      { requestId: "q-1", providerId: "openai", model: "gpt-4o-mini", usage, at: FEB },
      call,
    );
    // 1001 × 0.15 = 150.15 and 333 × 0.60 = 199.8 micros: components floor, the total 349.95 rounds up to 350.
    expect({ ...february, price: february.price?.version }).toEqual({
      requestId: "q-1",
      totalCostMicros: 350n,
      inputCostMicros: 150n,
      outputCostMicros: 199n,
      cachedInputCostMicros: 0n,
      cacheWriteCostMicros: 0n,
      roundingMicros: 1n,
      price: 1n,
    });
    const march = await handlers.calculatePricing(
      { requestId: "q-2", providerId: "openai", model: "gpt-4o-mini", usage, at: MAR },
      call,
    );
    expect([march.totalCostMicros, march.inputCostMicros, march.price?.version]).toEqual([360n, 160n, 2n]);
  });

  it("applies a long-context tier to the whole request, cache reads and writes included", async () => {
    const usage = {
      inputTokens: 250_000n,
      outputTokens: 1000n,
      cachedInputTokens: 50_000n,
      cacheWriteTokens: 20_000n,
    };
    const quote = await handlers.calculatePricing(
      { requestId: "q-3", providerId: "anthropic", model: "claude-sonnet-4", usage, at: FEB },
      call,
    );
    expect({ ...quote, price: undefined }).toEqual({
      requestId: "q-3",
      totalCostMicros: 1_282_500n,
      inputCostMicros: 1_080_000n,
      outputCostMicros: 22_500n,
      cachedInputCostMicros: 30_000n,
      cacheWriteCostMicros: 150_000n,
      roundingMicros: 0n,
      price: undefined,
    });
    expect(quote.price).toEqual({ ...SONNET, version: 1n, currency: "USD" });
  });

  it("falls back to the provider's '*' and answers NOT_FOUND naming provider and model", async () => {
    await handlers.setPricingConfig(
      { requestId: "set-star", price: wirePrice({ model: "*", inputMicrosPerMtok: 1_000_000n }) },
      call,
    );
    const usage = { inputTokens: 1_000_000n, outputTokens: 0n, cachedInputTokens: 0n, cacheWriteTokens: 0n };
    const fallback = await handlers.calculatePricing(
      { requestId: "", providerId: "openai", model: "o9-unknown", usage, at: FEB },
      call,
    );
    expect([fallback.totalCostMicros, fallback.price?.model]).toEqual([1_000_000n, "*"]);
    const missing = await rejection(
      handlers.calculatePricing({ requestId: "", providerId: "nobody", model: "m", usage, at: FEB }, call),
    );
    expect(missing.code).toBe("NOT_FOUND");
    expect(missing.message).toContain("provider nobody and model m");
  });
});

describe("GetPricingConfig", () => {
  it("lists every model of a provider in effect at `at`, or the price that applies to one model", async () => {
    const all = await handlers.getPricingConfig({ providerId: "openai", model: "", at: FEB }, call);
    expect(all.prices.map((p) => [p.model, p.version, p.inputMicrosPerMtok])).toEqual([
      ["*", 1n, 1_000_000n],
      ["gpt-4o-mini", 1n, 150_000n],
    ]);
    const later = await handlers.getPricingConfig(
      { providerId: "openai", model: "gpt-4o-mini", at: MAR },
      call,
    );
    expect(later.prices.map((p) => [p.model, p.version])).toEqual([["gpt-4o-mini", 2n]]);
    const viaDefault = await handlers.getPricingConfig(
      { providerId: "openai", model: "o9-unknown", at: FEB },
      call,
    );
    expect(viaDefault.prices.map((p) => p.model)).toEqual(["*"]);
    const none = await handlers.getPricingConfig({ providerId: "nobody", model: "", at: FEB }, call);
    expect(none.prices).toEqual([]);
  });
});

describe("across ingress processes", () => {
  it("shows a price set through one ingress in another once the invalidation arrives", async () => {
    const other = await ingressDeps();
    const otherHandlers = createPricingHandlers(other);
    const seen = new Promise<PriceCacheLoad>((resolve) => {
      (other.priceCache as PriceCache).on("loaded", (load) => {
        if (load.added.some((p) => p.model === "gpt-live")) resolve(load);
      });
    });
    await handlers.setPricingConfig({ requestId: "set-live", price: wirePrice({ model: "gpt-live" }) }, call);
    expect((await seen).kind).toBe("incremental");
    const usage = {
      inputTokens: 1_000_000n,
      outputTokens: 1_000_000n,
      cachedInputTokens: 0n,
      cacheWriteTokens: 0n,
    };
    const quote = await otherHandlers.calculatePricing(
      { requestId: "", providerId: "openai", model: "gpt-live", usage, at: FEB },
      call,
    );
    expect([quote.totalCostMicros, quote.price?.model]).toEqual([750_000n, "gpt-live"]);
  });

  it("quotes with no database: the pool ended after warm-up", async () => {
    const pool = createPool(ctx().databaseUrl, { max: 1 });
    const offline = await ingressDeps(createDb(pool), pool);
    await pool.end();
    const offlineHandlers = createPricingHandlers(offline);
    const usage = { inputTokens: 1001n, outputTokens: 333n, cachedInputTokens: 0n, cacheWriteTokens: 0n };
    const quote = await offlineHandlers.calculatePricing(
      { requestId: "", providerId: "openai", model: "gpt-4o-mini", usage, at: FEB },
      call,
    );
    expect(quote.totalCostMicros).toBe(350n);
    const listed = await offlineHandlers.getPricingConfig(
      { providerId: "anthropic", model: "", at: FEB },
      call,
    );
    expect(listed.prices.map((p) => p.model)).toEqual(["claude-sonnet-4"]);
  });
});
