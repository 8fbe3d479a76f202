import { describe, expect, it } from "vitest";
import { DomainError } from "./errors";
import { INT64_MAX, MAX_TOKENS } from "./money";
import { type CompiledPrice, compilePrice, type PriceVersion } from "./price";
import { type CostBreakdown, calculateCost, estimatePreAuth } from "./pricing";
import type { Usage } from "./usage";

// List prices of docs/formulas.md, in micros per 1M tokens.
const base = { effectiveFrom: new Date("2025-08-01T00:00:00Z"), version: 1n, currency: "USD", tiers: [] };
const GPT_4O_MINI: PriceVersion = {
  ...base,
  providerId: "openai",
  model: "gpt-4o-mini",
  inputMicrosPerMtok: 150_000n,
  outputMicrosPerMtok: 600_000n,
  cachedInputMicrosPerMtok: 75_000n,
};
const CLAUDE_SONNET_4: PriceVersion = {
  ...base,
  providerId: "anthropic",
  model: "claude-sonnet-4",
  inputMicrosPerMtok: 3_000_000n,
  outputMicrosPerMtok: 15_000_000n,
  cachedInputMicrosPerMtok: 300_000n,
  cacheWriteMicrosPerMtok: 3_750_000n,
  tiers: [
    {
      aboveInputTokens: 200_000n,
      input: 6_000_000n,
      output: 22_500_000n,
      cachedInput: 600_000n,
      cacheWrite: 7_500_000n,
    },
  ],
};
const GEMINI_2_5_PRO: PriceVersion = {
  ...base,
  providerId: "google",
  model: "gemini-2.5-pro",
  inputMicrosPerMtok: 1_250_000n,
  outputMicrosPerMtok: 10_000_000n,
  tiers: [{ aboveInputTokens: 200_000n, input: 2_500_000n, output: 15_000_000n }],
};

function usage(input: bigint, output: bigint, cached = 0n, write = 0n): Usage {
  return { inputTokens: input, outputTokens: output, cachedInputTokens: cached, cacheWriteTokens: write };
}

function breakdown(
  total: bigint,
  [input, output, cached, write]: [bigint, bigint, bigint, bigint],
  rounding: bigint,
  tier: bigint | null = null,
): CostBreakdown {
  return {
    totalCostMicros: total,
    inputCostMicros: input,
    outputCostMicros: output,
    cachedInputCostMicros: cached,
    cacheWriteCostMicros: write,
    roundingMicros: rounding,
    tierAboveInputTokens: tier,
  };
}

function expectInvalid(run: () => unknown, field: string, message?: RegExp): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe("INVALID_ARGUMENT");
    expect((error as DomainError).field).toBe(field);
    if (message) expect((error as DomainError).message).toMatch(message);
    return;
  }
  throw new Error(`expected INVALID_ARGUMENT on ${field}`);
}

describe("calculateCost: worked examples of docs/formulas.md", () => {
  const cases: [string, PriceVersion, Usage, bigint, CostBreakdown][] = [
    [
      "gpt-4o-mini, 500 input tokens",
      GPT_4O_MINI,
      usage(500n, 0n),
      1n,
      breakdown(75n, [75n, 0n, 0n, 0n], 0n),
    ],
    [
      "gpt-4o-mini, 500 input tokens, rounded to a cent",
      GPT_4O_MINI,
      usage(500n, 0n),
      10_000n,
      breakdown(10_000n, [75n, 0n, 0n, 0n], 9_925n),
    ],
    [
      "gpt-4o-mini chat turn with a cached prefix",
      GPT_4O_MINI,
      usage(1_200n, 350n, 1_024n),
      1n,
      breakdown(314n, [26n, 210n, 76n, 0n], 2n),
    ],
    ["gpt-4o-mini, 1 input token", GPT_4O_MINI, usage(1n, 0n), 1n, breakdown(1n, [0n, 0n, 0n, 0n], 1n)],
    [
      "Claude Sonnet 4, cache read and write below 200k",
      CLAUDE_SONNET_4,
      usage(10_000n, 500n, 8_000n, 1_000n),
      1n,
      breakdown(16_650n, [3_000n, 7_500n, 2_400n, 3_750n], 0n),
    ],
    [
      "Claude Sonnet 4, exactly 200,000 input tokens: base prices",
      CLAUDE_SONNET_4,
      usage(200_000n, 2_000n),
      1n,
      breakdown(630_000n, [600_000n, 30_000n, 0n, 0n], 0n),
    ],
    [
      "Claude Sonnet 4, 200,001 input tokens: the long-context tier for the whole request",
      CLAUDE_SONNET_4,
      usage(200_001n, 2_000n),
      1n,
      breakdown(1_245_006n, [1_200_006n, 45_000n, 0n, 0n], 0n, 200_000n),
    ],
    [
      "Claude Sonnet 4, long context with caching: two half micros floored away",
      CLAUDE_SONNET_4,
      usage(250_123n, 1_999n, 200_000n, 10_007n),
      1n,
      breakdown(480_726n, [240_696n, 44_977n, 120_000n, 75_052n], 1n, 200_000n),
    ],
    [
      "Gemini 2.5 Pro, 200,000 input tokens",
      GEMINI_2_5_PRO,
      usage(200_000n, 1_000n),
      1n,
      breakdown(260_000n, [250_000n, 10_000n, 0n, 0n], 0n),
    ],
    [
      "Gemini 2.5 Pro, 200,001 input tokens: exact 515,002.5 rounds up",
      GEMINI_2_5_PRO,
      usage(200_001n, 1_000n),
      1n,
      breakdown(515_003n, [500_002n, 15_000n, 0n, 0n], 1n, 200_000n),
    ],
    [
      "Gemini 2.5 Pro, cached tokens without a cached price: the tier's input price",
      GEMINI_2_5_PRO,
      usage(300_000n, 1_000n, 100_000n),
      1n,
      breakdown(765_000n, [500_000n, 15_000n, 250_000n, 0n], 0n, 200_000n),
    ],
  ];

  it.each(cases)("%s", (_name, price, used, increment, expected) => {
    expect(calculateCost(used, price, increment)).toEqual(expected);
    expect(calculateCost(used, compilePrice(price), increment)).toEqual(expected);
  });
});

describe("calculateCost: edge cases", () => {
  const cheapest: PriceVersion = { ...GPT_4O_MINI, inputMicrosPerMtok: 1n, outputMicrosPerMtok: 1n };
  const highest: PriceVersion = {
    ...GPT_4O_MINI,
    inputMicrosPerMtok: 1_000_000_000_000n,
    outputMicrosPerMtok: 1_000_000_000_000n,
    cachedInputMicrosPerMtok: null,
  };

  it("charges nothing for no tokens", () => {
    expect(calculateCost(usage(0n, 0n), CLAUDE_SONNET_4)).toEqual(breakdown(0n, [0n, 0n, 0n, 0n], 0n));
  });

  it("charges one micro for one token at 1 micro per 1M tokens", () => {
    expect(calculateCost(usage(1n, 0n), cheapest)).toEqual(breakdown(1n, [0n, 0n, 0n, 0n], 1n));
    expect(calculateCost(usage(0n, 1n), cheapest, 10_000n)).toEqual(
      breakdown(10_000n, [0n, 0n, 0n, 0n], 10_000n),
    );
  });

  it("prices 10^12 input and output tokens at 10^12 micros per 1M tokens exactly", () => {
    const all = 2_000_000_000_000_000_000n;
    expect(calculateCost(usage(MAX_TOKENS, MAX_TOKENS), highest)).toEqual(
      breakdown(all, [all / 2n, all / 2n, 0n, 0n], 0n),
    );
    const third = 333_333_333_333n;
    const split = usage(MAX_TOKENS, MAX_TOKENS, third, third);
    expect(calculateCost(split, highest).totalCostMicros).toBe(all);
  });

  it("accepts a total of exactly int64 max and refuses one micro more", () => {
    const atMax: PriceVersion = { ...GPT_4O_MINI, outputMicrosPerMtok: INT64_MAX };
    expect(calculateCost(usage(0n, 1_000_000n), atMax).totalCostMicros).toBe(INT64_MAX);
    expectInvalid(() => calculateCost(usage(0n, 1_000_001n), atMax), "usage", /cost exceeds int64/);
  });

  it("refuses a total that exceeds int64 only once rounded up to the increment", () => {
    const nearMax: PriceVersion = { ...GPT_4O_MINI, outputMicrosPerMtok: INT64_MAX - 1_000n };
    expect(calculateCost(usage(0n, 1_000_000n), nearMax).totalCostMicros).toBe(INT64_MAX - 1_000n);
    expectInvalid(
      () => calculateCost(usage(0n, 1_000_000n), nearMax, 10_000n),
      "usage",
      /cost exceeds int64/,
    );
  });

  it("refuses 10^12 tokens of each kind at 5 × 10^12 micros per 1M tokens (10^19 micros)", () => {
    const huge: PriceVersion = {
      ...highest,
      inputMicrosPerMtok: 5_000_000_000_000n,
      outputMicrosPerMtok: 5_000_000_000_000n,
    };
    expectInvalid(() => calculateCost(usage(MAX_TOKENS, MAX_TOKENS), huge), "usage", /cost exceeds int64/);
  });
});

describe("calculateCost: tiers and fallbacks", () => {
  const tiered: PriceVersion = {
    ...base,
    providerId: "p",
    model: "*",
    inputMicrosPerMtok: 1_000_000n,
    outputMicrosPerMtok: 2_000_000n,
    cacheWriteMicrosPerMtok: 1_500_000n,
    // Deliberately unsorted: the largest threshold below input_tokens wins, whatever the order.
    tiers: [
      { aboveInputTokens: 1_000n, input: 3_000_000n },
      { aboveInputTokens: 0n, output: 5_000_000n },
      { aboveInputTokens: 100n, cachedInput: 7_000_000n },
    ],
  };
  const tierOf = (input: bigint) => calculateCost(usage(input, 0n), tiered).tierAboveInputTokens;

  it("picks the tier with the largest threshold strictly below input_tokens", () => {
    expect([0n, 1n, 100n, 101n, 1_000n, 1_001n].map(tierOf)).toEqual([null, 0n, 0n, 100n, 100n, 1_000n]);
  });

  it("falls back per kind to the base price, and cached/write to the resolved input price", () => {
    // Tier 100 sets only cached = 7: input 1, output 2 and write 1.5 come from the base.
    expect(calculateCost(usage(1_000n, 1_000n, 500n, 250n), tiered)).toEqual(
      breakdown(6_125n, [250n, 2_000n, 3_500n, 375n], 0n, 100n),
    );
    // Tier 0 sets only output = 5.
    expect(calculateCost(usage(50n, 1_000_000n), tiered)).toEqual(
      breakdown(5_000_050n, [50n, 5_000_000n, 0n, 0n], 0n, 0n),
    );
    // Tier 1,000 sets only input = 3 and no cached or write price exists anywhere: both are the tier's input, 3.
    const inputOnly: PriceVersion = {
      ...tiered,
      cacheWriteMicrosPerMtok: undefined,
      tiers: [tiered.tiers[0]!],
    };
    expect(calculateCost(usage(1_000_000n, 0n, 400_000n, 100_000n), inputOnly)).toEqual(
      breakdown(3_000_000n, [1_500_000n, 0n, 1_200_000n, 300_000n], 0n, 1_000n),
    );
    // A base cached price beats the tier's input price: the tier's price of the kind, else the base's, else input.
    const baseCached: PriceVersion = { ...inputOnly, cachedInputMicrosPerMtok: 500_000n };
    expect(calculateCost(usage(2_000n, 0n, 1_000n), baseCached)).toEqual(
      breakdown(3_500n, [3_000n, 0n, 500n, 0n], 0n, 1_000n),
    );
  });
});

describe("estimatePreAuth", () => {
  it("prices estimated input plus max output, without cache", () => {
    expect(estimatePreAuth(10_000n, 4_096n, CLAUDE_SONNET_4)).toEqual(
      breakdown(91_440n, [30_000n, 61_440n, 0n, 0n], 0n),
    );
    expect(estimatePreAuth(500n, 0n, GPT_4O_MINI, 10_000n).totalCostMicros).toBe(10_000n);
    expect(estimatePreAuth(200_001n, 2_000n, CLAUDE_SONNET_4).totalCostMicros).toBe(1_245_006n);
  });

  it("names the request fields it checks", () => {
    expectInvalid(() => estimatePreAuth(-1n, 0n, GPT_4O_MINI), "estimated_input_tokens");
    expectInvalid(() => estimatePreAuth(0n, MAX_TOKENS + 1n, GPT_4O_MINI), "max_output_tokens");
  });
});

describe("calculateCost: invalid input", () => {
  it("names the offending usage field", () => {
    expectInvalid(() => calculateCost(usage(-1n, 0n), GPT_4O_MINI), "usage.input_tokens");
    expectInvalid(() => calculateCost(usage(0n, MAX_TOKENS + 1n), GPT_4O_MINI), "usage.output_tokens");
    expectInvalid(
      () => calculateCost(usage(10n, 0n, 6n, 5n), GPT_4O_MINI),
      "usage.cached_input_tokens",
      /exceed/,
    );
    expectInvalid(
      () => calculateCost({ ...usage(1n, 1n), outputTokens: 1 as never }, GPT_4O_MINI),
      "usage.output_tokens",
    );
  });

  it("refuses a rounding increment below one micro", () => {
    expectInvalid(() => calculateCost(usage(1n, 0n), GPT_4O_MINI, 0n), "rounding_increment_micros");
  });

  it("refuses invalid prices with the price field named", () => {
    expectInvalid(
      () => calculateCost(usage(1n, 0n), { ...GPT_4O_MINI, outputMicrosPerMtok: -1n }),
      "price.output_micros_per_mtok",
    );
    const duplicate = { ...GEMINI_2_5_PRO, tiers: [...GEMINI_2_5_PRO.tiers, { aboveInputTokens: 200_000n }] };
    expectInvalid(() => compilePrice(duplicate), "price.tiers[1].above_input_tokens", /duplicate/);
    expectInvalid(() => compilePrice({ ...GPT_4O_MINI, currency: "usd" }), "price.currency");
    expectInvalid(() => compilePrice({ ...GPT_4O_MINI, model: "" }), "price.model");
  });

  it("compiles a price object once and reuses it", () => {
    const compiled: CompiledPrice = compilePrice(CLAUDE_SONNET_4);
    expect(compilePrice(CLAUDE_SONNET_4)).toBe(compiled);
    expect(compilePrice(compiled)).toBe(compiled);
    expect(compiled.version).toBe(1n);
  });
});
