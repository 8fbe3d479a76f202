import { DomainError } from "@heidrun/core";
import { createRegistry } from "@heidrun/observability";
import { freePort, startPrivateRedis, useTestContext } from "@heidrun/testing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createDb, createPool } from "./pool";
import { PriceCache, type PriceCacheLoad, priceChannel, publishPriceChange } from "./price-cache";
import { type PriceInput, setPrice } from "./prices";

const ctx = useTestContext();
const caches: PriceCache[] = [];
afterAll(async () => {
  await Promise.all(caches.map((cache) => cache.stop()));
});

const JAN = new Date("2025-01-01T00:00:00.000Z");
const FEB = new Date("2025-02-01T00:00:00.000Z");
const MAR = new Date("2025-03-01T00:00:00.000Z");
const USAGE = {
  inputTokens: 1_000_000n,
  outputTokens: 500_000n,
  cachedInputTokens: 200_000n,
  cacheWriteTokens: 0n,
};

let requests = 0;
function write(input: Partial<PriceInput> & { providerId: string; model: string }) {
  return setPrice(
    ctx().db,
    { inputMicrosPerMtok: 150_000n, outputMicrosPerMtok: 600_000n, effectiveFrom: JAN, ...input },
    { requestId: `cache-test-${++requests}`, actor: "test" },
  );
}

async function startCache(
  options: Partial<ConstructorParameters<typeof PriceCache>[0]> = {},
): Promise<PriceCache> {
  const cache = new PriceCache({
    db: ctx().db,
    channel: priceChannel(ctx().redisPrefix),
    refreshIntervalMs: 60_000,
    ...options,
  });
  caches.push(cache);
  await cache.start();
  return cache;
}

/** Resolves with the first load that brought version `id` in. */
function loadOf(cache: PriceCache, id: bigint): Promise<PriceCacheLoad> {
  return new Promise((resolve) => {
    const listener = (load: PriceCacheLoad) => {
      if (load.added.some((price) => price.id === id)) {
        cache.off("loaded", listener);
        resolve(load);
      }
    };
    cache.on("loaded", listener);
  });
}

describe("PriceCache lookups", () => {
  it("prices a usage with the version in effect when it happened", async () => {
    const v1 = await write({ providerId: "time", model: "m", effectiveFrom: JAN });
    const v2 = await write({
      providerId: "time",
      model: "m",
      inputMicrosPerMtok: 300_000n,
      effectiveFrom: MAR,
    });
    const cache = await startCache();
    expect(cache.resolve("time", "m", FEB)).toEqual(v1.price);
    expect(cache.resolve("time", "m", MAR)).toEqual(v2.price);
    expect(cache.byVersion("time", "m", 1n)).toEqual(v1.price);
    // 800k uncached × 0.15 + 200k cached × 0.15 + 500k out × 0.60 = 0.12 + 0.03 + 0.30 dollars
    expect(cache.quote("time", "m", USAGE, FEB).cost).toEqual({
      totalCostMicros: 450_000n,
      inputCostMicros: 120_000n,
      outputCostMicros: 300_000n,
      cachedInputCostMicros: 30_000n,
      cacheWriteCostMicros: 0n,
      roundingMicros: 0n,
      tierAboveInputTokens: null,
    });
    expect(cache.quote("time", "m", USAGE, MAR).cost.totalCostMicros).toBe(600_000n);
    const nothing = (() => {
      try {
        cache.resolve("time", "m", new Date("2024-12-31T23:59:59.999Z"));
      } catch (error) {
        return error;
      }
    })();
    expect(nothing).toBeInstanceOf(DomainError);
    expect((nothing as DomainError).code).toBe("NOT_FOUND");
  });

  it("falls back to the provider's '*' and names provider and model when nothing applies", async () => {
    const star = await write({ providerId: "fallback", model: "*", inputMicrosPerMtok: 1_000_000n });
    const own = await write({ providerId: "fallback", model: "special" });
    const cache = await startCache();
    expect(cache.resolve("fallback", "unknown-model", FEB)).toEqual(star.price);
    expect(cache.resolve("fallback", "special", FEB)).toEqual(own.price);
    expect(() => cache.resolve("nobody", "gpt-x", FEB)).toThrow(
      /no price for provider nobody and model gpt-x/,
    );
    expect(cache.inEffect(FEB, "fallback").map((p) => p.model)).toEqual(["*", "special"]);
  });
});

describe("PriceCache invalidation", () => {
  it("shows a price written through one cache's process in another within the invalidation", async () => {
    const channel = priceChannel(ctx().redisPrefix);
    const one = await startCache({ subscriber: ctx().newRedis() });
    const two = await startCache({ subscriber: ctx().newRedis() });
    expect([one.pubsubUp, two.pubsubUp]).toEqual([true, true]);

    const { price } = await write({ providerId: "live", model: "m" });
    one.add(price);
    const seen = loadOf(two, price.id);
    await publishPriceChange(ctx().redis, channel, [price.id]);
    const load = await seen;
    expect([load.kind, load.reason]).toEqual(["incremental", "message"]);
    expect(two.resolve("live", "m", FEB)).toEqual(price);
    expect(one.resolve("live", "m", FEB)).toEqual(price);
  });

  it("finds a row announced by id even when it is older than what the cache already holds", async () => {
    const cache = await startCache({ subscriber: ctx().newRedis() });
    const older = await write({ providerId: "gap", model: "old" });
    const newer = await write({ providerId: "gap", model: "new" });
    // As if `newer` committed and was seen first: the cache's high-water mark passes `older`.
    cache.add(newer.price);
    expect(cache.lookup("gap", "old", FEB)).toBeUndefined();
    const seen = loadOf(cache, older.price.id);
    await publishPriceChange(ctx().redis, cache.channel, [older.price.id]);
    await seen;
    expect(cache.resolve("gap", "old", FEB)).toEqual(older.price);
  });

  it("converges through the periodic refresh when pub/sub is unreachable, and says so in metrics", async () => {
    const deadPort = await freePort();
    const deaf = new Redis({
      port: deadPort,
      host: "127.0.0.1",
      maxRetriesPerRequest: null,
      lazyConnect: false,
    });
    deaf.on("error", () => {});
    const registry = createRegistry();
    try {
      const cache = await startCache({
        subscriber: deaf,
        refreshIntervalMs: 50,
        subscribeTimeoutMs: 100,
        registry,
      });
      expect(cache.pubsubUp).toBe(false);
      const { price } = await write({ providerId: "deaf", model: "m" });
      const load = await loadOf(cache, price.id);
      expect([load.kind, load.reason]).toEqual(["full", "refresh"]);
      expect(cache.resolve("deaf", "m", FEB)).toEqual(price);
      const pubsub = await registry.getSingleMetric("heidrun_price_cache_pubsub_up")?.get();
      expect(pubsub?.values.map((v) => v.value)).toEqual([0]);
      const age = await registry.getSingleMetric("heidrun_price_cache_age_seconds")?.get();
      expect(age?.values[0]?.value).toBeGreaterThanOrEqual(0);
    } finally {
      deaf.disconnect();
    }
  });
});

describe("PriceCache across a Redis restart", () => {
  it("catches up with what was announced while its subscription was down", async () => {
    const redis = await startPrivateRedis(["--appendonly", "no"]);
    const subscriber = new Redis(redis.url, { maxRetriesPerRequest: null, retryStrategy: () => 20 });
    subscriber.on("error", () => {});
    try {
      const cache = await startCache({ subscriber });
      expect(cache.pubsubUp).toBe(true);
      const down = new Promise((resolve) => cache.once("pubsub", resolve));
      await redis.stop();
      expect(await down).toBe(false);
      const { price } = await write({ providerId: "restart", model: "m" });
      const caughtUp = loadOf(cache, price.id);
      await redis.restart();
      const load = await caughtUp;
      expect([load.kind, load.reason, cache.pubsubUp]).toEqual(["incremental", "resubscribe", true]);
      expect(cache.resolve("restart", "m", FEB)).toEqual(price);
    } finally {
      subscriber.disconnect();
      await redis.destroy();
    }
  });
});

describe("PriceCache without the database", () => {
  it("answers quotes after warm-up with its pool ended", async () => {
    await write({ providerId: "offline", model: "m", outputMicrosPerMtok: 1_000_000n });
    const pool = createPool(ctx().databaseUrl, { max: 1 });
    const cache = await startCache({ db: createDb(pool) });
    await pool.end();
    const { cost, price } = cache.quote("offline", "m", USAGE, FEB);
    expect([price.version, cost.totalCostMicros]).toEqual([1n, 650_000n]);
    await cache.stop();
  });
});
