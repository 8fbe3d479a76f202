import { describe, expect, it } from "vitest";
import {
  breakdown,
  CLAUDE_SONNET_4,
  expectInvalid,
  GEMINI_2_5_PRO,
  GPT_4O_MINI,
  usage,
} from "./list-prices.fixture";
import { INT64_MAX, MAX_TOKENS } from "./money";
import { type CompiledPrice, compilePrice, type PriceVersion } from "./price";
import { calculateCost } from "./pricing";

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
