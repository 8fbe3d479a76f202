import fc from "fast-check";
import { describe, it } from "vitest";
import { INT64_MAX, MAX_TOKENS } from "./money";
import type { PriceTier, PriceVersion } from "./price";
import { calculateCost } from "./pricing";
import type { Usage } from "./usage";

const RUNS = { numRuns: 10_000 };
const MAX_PRICE = 1_000_000_000_000n;

const tokens = fc.bigInt({ min: 0n, max: MAX_TOKENS });
const priceAmount = fc.bigInt({ min: 0n, max: MAX_PRICE });
const optionalPrice = fc.option(priceAmount, { nil: null });

const usageArb: fc.Arbitrary<Usage> = fc.tuple(tokens, tokens).chain(([inputTokens, outputTokens]) =>
  fc.bigInt({ min: 0n, max: inputTokens }).chain((cachedInputTokens) =>
    fc.bigInt({ min: 0n, max: inputTokens - cachedInputTokens }).map((cacheWriteTokens) => ({
      inputTokens,
      outputTokens,
      cachedInputTokens,
      cacheWriteTokens,
    })),
  ),
);

const tierArb: fc.Arbitrary<PriceTier> = fc.record({
  aboveInputTokens: tokens,
  input: optionalPrice,
  output: optionalPrice,
  cachedInput: optionalPrice,
  cacheWrite: optionalPrice,
});

const priceArb: fc.Arbitrary<PriceVersion> = fc.record({
  providerId: fc.constant("p"),
  model: fc.constant("*"),
  inputMicrosPerMtok: priceAmount,
  outputMicrosPerMtok: priceAmount,
  cachedInputMicrosPerMtok: optionalPrice,
  cacheWriteMicrosPerMtok: optionalPrice,
  tiers: fc.uniqueArray(tierArb, { maxLength: 4, selector: (tier) => tier.aboveInputTokens }),
  effectiveFrom: fc.constant(new Date("2025-01-01T00:00:00Z")),
  version: fc.constant(1n),
  currency: fc.constant("USD"),
});

const incrementArb = fc.oneof(fc.constantFrom(1n, 10n, 10_000n), fc.bigInt({ min: 1n, max: 1_000_000n }));

interface ReferencePrices {
  tier: bigint | null;
  pIn: bigint;
  pOut: bigint;
  pCached: bigint;
  pWrite: bigint;
  uncached: bigint;
}

/** The formula's tier and fallbacks written out plainly (filter, pick the max), independent of the compiled form. */
function referencePrices(usage: Usage, price: PriceVersion): ReferencePrices {
  const applicable = price.tiers.filter((tier) => tier.aboveInputTokens < usage.inputTokens);
  const tier = applicable.reduce<PriceTier | undefined>(
    (best, candidate) =>
      best === undefined || candidate.aboveInputTokens > best.aboveInputTokens ? candidate : best,
    undefined,
  );
  const pIn = tier?.input ?? price.inputMicrosPerMtok;
  return {
    tier: tier?.aboveInputTokens ?? null,
    pIn,
    pOut: tier?.output ?? price.outputMicrosPerMtok,
    pCached: tier?.cachedInput ?? price.cachedInputMicrosPerMtok ?? pIn,
    pWrite: tier?.cacheWrite ?? price.cacheWriteMicrosPerMtok ?? pIn,
    uncached: usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens,
  };
}

function exactNumerator(usage: Usage, p: ReferencePrices): bigint {
  return (
    p.uncached * p.pIn +
    usage.cachedInputTokens * p.pCached +
    usage.cacheWriteTokens * p.pWrite +
    usage.outputTokens * p.pOut
  );
}

// Properties return booleans rather than calling expect() per run: 10,000 runs stay well under a second each.
describe("calculateCost properties (10,000 runs each)", () => {
  it("rounds the exact rational total up by less than one increment, to a multiple of it", () => {
    fc.assert(
      fc.property(usageArb, priceArb, incrementArb, (usage, price, increment) => {
        const { totalCostMicros } = calculateCost(usage, price, increment);
        const excess = totalCostMicros * 1_000_000n - exactNumerator(usage, referencePrices(usage, price));
        return excess >= 0n && excess < increment * 1_000_000n && totalCostMicros % increment === 0n;
      }),
      RUNS,
    );
  });

  it("floors each component, and components + rounding = total with 0 ≤ rounding < 4 + increment", () => {
    fc.assert(
      fc.property(usageArb, priceArb, incrementArb, (usage, price, increment) => {
        const cost = calculateCost(usage, price, increment);
        const p = referencePrices(usage, price);
        const components =
          cost.inputCostMicros +
          cost.outputCostMicros +
          cost.cachedInputCostMicros +
          cost.cacheWriteCostMicros;
        return (
          cost.inputCostMicros === (p.uncached * p.pIn) / 1_000_000n &&
          cost.outputCostMicros === (usage.outputTokens * p.pOut) / 1_000_000n &&
          cost.cachedInputCostMicros === (usage.cachedInputTokens * p.pCached) / 1_000_000n &&
          cost.cacheWriteCostMicros === (usage.cacheWriteTokens * p.pWrite) / 1_000_000n &&
          components + cost.roundingMicros === cost.totalCostMicros &&
          cost.roundingMicros >= 0n &&
          // Four floors lose < 1 micro each; rounding up adds < one increment.
          cost.roundingMicros < 4n + increment
        );
      }),
      RUNS,
    );
  });

  it("never overflows or loses precision up to 10^12 tokens at 10^12 micros per 1M tokens", () => {
    fc.assert(
      fc.property(usageArb, priceArb, (usage, price) => {
        const cost = calculateCost(usage, price);
        const p = referencePrices(usage, price);
        return (
          cost.tierAboveInputTokens === p.tier &&
          cost.totalCostMicros === (exactNumerator(usage, p) + 999_999n) / 1_000_000n &&
          cost.totalCostMicros <= (2n * MAX_TOKENS * MAX_PRICE) / 1_000_000n &&
          cost.totalCostMicros <= INT64_MAX
        );
      }),
      RUNS,
    );
  });

  // Monotone only while a larger input count never lands in a cheaper tier, which is how long-context tiers work;
  // so every tier here costs at least as much, per kind, as the level below it.
  const risingPriceArb: fc.Arbitrary<PriceVersion> = fc
    .tuple(
      fc.array(priceAmount, { minLength: 4, maxLength: 4 }),
      fc.uniqueArray(tokens, { maxLength: 3 }),
      fc.array(fc.array(fc.bigInt({ min: 0n, max: MAX_PRICE }), { minLength: 4, maxLength: 4 }), {
        minLength: 3,
        maxLength: 3,
      }),
    )
    .map(([[input = 0n, output = 0n, cached = 0n, write = 0n], thresholds, raises]) => {
      const sorted = [...thresholds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      let level = [input, output, cached, write];
      const tiers = sorted.map((aboveInputTokens, index) => {
        level = level.map((value, kind) => value + (raises[index]?.[kind] ?? 0n));
        const [tierInput, tierOutput, tierCached, tierWrite] = level;
        return {
          aboveInputTokens,
          input: tierInput,
          output: tierOutput,
          cachedInput: tierCached,
          cacheWrite: tierWrite,
        };
      });
      return {
        providerId: "p",
        model: "*",
        inputMicrosPerMtok: input,
        outputMicrosPerMtok: output,
        cachedInputMicrosPerMtok: cached,
        cacheWriteMicrosPerMtok: write,
        tiers,
        effectiveFrom: new Date("2025-01-01T00:00:00Z"),
        version: 1n,
        currency: "USD",
      };
    });

  const kinds = ["uncached input", "cached input", "cache write", "output"] as const;
  const more = (usage: Usage, kind: (typeof kinds)[number], extra: bigint): Usage => ({
    inputTokens: usage.inputTokens + (kind === "output" ? 0n : extra),
    outputTokens: usage.outputTokens + (kind === "output" ? extra : 0n),
    cachedInputTokens: usage.cachedInputTokens + (kind === "cached input" ? extra : 0n),
    cacheWriteTokens: usage.cacheWriteTokens + (kind === "cache write" ? extra : 0n),
  });
  const roomFor = (usage: Usage, kind: (typeof kinds)[number]) =>
    MAX_TOKENS - (kind === "output" ? usage.outputTokens : usage.inputTokens);

  it("never costs less for more tokens of any kind", () => {
    fc.assert(
      fc.property(
        usageArb,
        risingPriceArb,
        fc.constantFrom(...kinds),
        fc.bigInt({ min: 0n, max: MAX_TOKENS }),
        incrementArb,
        (usage, price, kind, wanted, increment) => {
          const extra = wanted % (roomFor(usage, kind) + 1n);
          const before = calculateCost(usage, price, increment).totalCostMicros;
          const after = calculateCost(more(usage, kind, extra), price, increment).totalCostMicros;
          return after >= before;
        },
      ),
      RUNS,
    );
  });
});
