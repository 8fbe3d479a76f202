import { describe, expect, it } from "vitest";
import {
  base,
  breakdown,
  CLAUDE_SONNET_4,
  expectInvalid,
  GEMINI_2_5_PRO,
  GPT_4O_MINI,
  usage,
} from "./list-prices.fixture";
import { MAX_TOKENS } from "./money";
import { compilePrice, type PriceVersion } from "./price";
import { type CostBreakdown, calculateCost, estimatePreAuth } from "./pricing";
import type { Usage } from "./usage";

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
