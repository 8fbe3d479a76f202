import { credentials, status } from "@grpc/grpc-js";
import { configStoreFor } from "@heidrun/config";
import { PriceCache, priceChannel } from "@heidrun/db";
import { createRegistry, silentLogger } from "@heidrun/observability";
import { PricingServiceClient } from "@heidrun/proto";
import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngressDeps } from "../context";
import { createIngress, type Ingress } from "../server";
import { ADMIN_KEY, bearer, failure, unary, YGGDRASIL_KEY } from "../test-harness";

const ctx = useTestContext();
const JAN = new Date("2025-01-01T00:00:00.000Z");
const FEB = new Date("2025-02-01T00:00:00.000Z");

let ingress: Ingress;
let cache: PriceCache;
let client: PricingServiceClient;

beforeAll(async () => {
  const config = configStoreFor(
    ctx(),
    { queue: { prefix: ctx().redisPrefix }, ingress: { healthCheckIntervalMs: 100 } },
    { apiKeys: [YGGDRASIL_KEY, ADMIN_KEY] },
  );
  cache = new PriceCache({
    db: ctx().db,
    channel: priceChannel(ctx().redisPrefix),
    refreshIntervalMs: 60_000,
  });
  await cache.start();
  // Only the pricing service is exercised; the other services' collaborators are left out.
  const deps = {
    config,
    log: silentLogger(),
    registry: createRegistry(),
    pool: ctx().pool,
    db: ctx().db,
    redis: ctx().redis,
    priceCache: cache,
  } as unknown as IngressDeps;
  ingress = createIngress(deps);
  const { port } = await ingress.start("127.0.0.1:0");
  client = new PricingServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await ingress?.stop();
  await cache?.stop();
});

const PRICE = {
  providerId: "openai",
  model: "gpt-4o",
  inputMicrosPerMtok: 2_500_000n,
  outputMicrosPerMtok: 10_000_000n,
  cachedInputMicrosPerMtok: 1_250_000n,
  effectiveFrom: JAN,
  version: 0n,
  currency: "",
  tiers: [],
};

describe("PricingService over gRPC", () => {
  it("sets a price with an admin key and refuses a yggdrasil key", async () => {
    const denied = await failure(
      unary(client.setPricingConfig.bind(client), { requestId: "g-0", price: PRICE }, bearer(YGGDRASIL_KEY)),
    );
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    const set = await unary(client.setPricingConfig.bind(client), { requestId: "g-1", price: PRICE });
    expect(set.price).toEqual({ ...PRICE, version: 1n, currency: "USD", cacheWriteMicrosPerMtok: undefined });
  });

  it("quotes exact int64 amounts for a yggdrasil key", async () => {
    const usage = {
      inputTokens: 123_457n,
      outputTokens: 7_891n,
      cachedInputTokens: 100_000n,
      cacheWriteTokens: 0n,
    };
    const quote = await unary(
      client.calculatePricing.bind(client),
      { requestId: "g-q", providerId: "openai", model: "gpt-4o", usage, at: FEB },
      bearer(YGGDRASIL_KEY),
    );
    // 23457 × 2.5 = 58642.5, 100000 × 1.25 = 125000, 7891 × 10 = 78910 → exact 262552.5 → 262553
    expect({ ...quote, price: quote.price?.version }).toEqual({
      requestId: "g-q",
      totalCostMicros: 262_553n,
      inputCostMicros: 58_642n,
      outputCostMicros: 78_910n,
      cachedInputCostMicros: 125_000n,
      cacheWriteCostMicros: 0n,
      roundingMicros: 1n,
      price: 1n,
    });
  });

  it("answers NOT_FOUND for a missing price and INVALID_ARGUMENT for impossible usage", async () => {
    const usage = { inputTokens: 10n, outputTokens: 0n, cachedInputTokens: 0n, cacheWriteTokens: 0n };
    const missing = await failure(
      unary(client.calculatePricing.bind(client), { requestId: "", providerId: "nobody", model: "m", usage }),
    );
    expect([missing.code, missing.details]).toEqual([
      status.NOT_FOUND,
      expect.stringContaining("provider nobody and model m"),
    ]);
    const invalid = await failure(
      unary(client.calculatePricing.bind(client), {
        requestId: "",
        providerId: "openai",
        model: "gpt-4o",
        usage: { ...usage, cachedInputTokens: 11n },
      }),
    );
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);
  });

  it("lists the provider's prices in effect", async () => {
    const listed = await unary(client.getPricingConfig.bind(client), {
      providerId: "openai",
      model: "",
      at: FEB,
    });
    expect(listed.prices.map((p) => [p.model, p.version, p.outputMicrosPerMtok])).toEqual([
      ["gpt-4o", 1n, 10_000_000n],
    ]);
  });
});
