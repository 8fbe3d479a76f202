import type { PriceVersion, Usage } from "@heidrun/core";
import { type Db, setPrice } from "@heidrun/db";
import { TrackTokensRequest } from "@heidrun/proto";

/** Long enough ago that every usage of a run is priced by these versions, whenever it happened. */
export const EFFECTIVE_FROM = new Date("2020-01-01T00:00:00Z");

/** The catalog every scenario settles against (version 1 of each, as the empty catalog assigns). */
export const PRICES: readonly PriceVersion[] = [
  {
    providerId: "openai",
    model: "gpt-4o-mini",
    inputMicrosPerMtok: 150_000n,
    outputMicrosPerMtok: 600_000n,
    cachedInputMicrosPerMtok: 75_000n,
    cacheWriteMicrosPerMtok: null,
    tiers: [],
    effectiveFrom: EFFECTIVE_FROM,
    version: 1n,
    currency: "USD",
  },
  {
    providerId: "anthropic",
    model: "claude-sonnet-4",
    inputMicrosPerMtok: 3_000_000n,
    outputMicrosPerMtok: 15_000_000n,
    cachedInputMicrosPerMtok: 300_000n,
    cacheWriteMicrosPerMtok: 3_750_000n,
    tiers: [{ aboveInputTokens: 200_000n, input: 6_000_000n, output: 22_500_000n }],
    effectiveFrom: EFFECTIVE_FROM,
    version: 1n,
    currency: "USD",
  },
];

export async function seedPrices(db: Db, prices: readonly PriceVersion[] = PRICES): Promise<void> {
  for (const price of prices) {
    await setPrice(
      db,
      {
        providerId: price.providerId,
        model: price.model,
        inputMicrosPerMtok: price.inputMicrosPerMtok,
        outputMicrosPerMtok: price.outputMicrosPerMtok,
        cachedInputMicrosPerMtok: price.cachedInputMicrosPerMtok ?? null,
        cacheWriteMicrosPerMtok: price.cacheWriteMicrosPerMtok ?? null,
        tiers: price.tiers,
        effectiveFrom: price.effectiveFrom,
      },
      { requestId: `seed-${price.providerId}-${price.model}`, actor: "faults" },
    );
  }
}

export const ACCOUNTS = Array.from({ length: 24 }, (_, i) => `acct-${i}`);

/** A deterministic spread of usage (some cached, some cache writes, now and then a long-context one). */
export function usageOf(n: number): Usage {
  const input = BigInt(50 + ((n * 7919) % 40_000)) + (n % 97 === 0 ? 250_000n : 0n);
  const cached = n % 3 === 0 ? input / 4n : 0n;
  const written = n % 5 === 0 ? input / 8n : 0n;
  return {
    inputTokens: input,
    outputTokens: BigInt((n * 104_729) % 4000),
    cachedInputTokens: cached,
    cacheWriteTokens: written,
  };
}

/** Usage number `n` of a run under request id `requestId`, for one of the accounts and one of the prices. */
export function trackRequest(
  requestId: string,
  n: number,
  accounts: readonly string[] = ACCOUNTS,
): TrackTokensRequest {
  const price = PRICES[n % PRICES.length]!;
  return TrackTokensRequest.fromPartial({
    requestId,
    accountId: accounts[n % accounts.length]!,
    providerId: price.providerId,
    model: price.model,
    usage: usageOf(n),
  });
}
