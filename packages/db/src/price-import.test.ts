import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EXAMPLE_CATALOG_PATH, PriceFileError, parsePriceFile } from "./price-import";
import { scaleDecimal } from "./price-import-decimal";

const LITELLM = readFileSync(new URL("./price-import-litellm.fixture.json", import.meta.url), "utf8");
const MICROS = "micros per 1M tokens";

describe("scaleDecimal", () => {
  it("scales decimal text exactly, exponent notation included", () => {
    expect(scaleDecimal("1.5e-07", 12, MICROS)).toEqual({ value: 150_000n });
    expect(scaleDecimal("1.1E-6", 12, MICROS)).toEqual({ value: 1_100_000n });
    expect(scaleDecimal("0.00000027", 12, MICROS)).toEqual({ value: 270_000n });
    expect(scaleDecimal("2.25e-05", 12, MICROS)).toEqual({ value: 22_500_000n });
    expect(scaleDecimal("0.0", 12, MICROS)).toEqual({ value: 0n });
    expect(scaleDecimal("150000", 0, MICROS)).toEqual({ value: 150_000n });
    expect(scaleDecimal("1e3", 0, MICROS)).toEqual({ value: 1000n });
    expect(scaleDecimal("9223372036854775807", 0, MICROS)).toEqual({ value: 9_223_372_036_854_775_807n });
  });

  it("reports what is not a whole number, negative or not a number, never rounding", () => {
    expect(scaleDecimal("1.23456789e-09", 12, MICROS)).toEqual({
      problem: "1.23456789e-09 is 1234.56789 micros per 1M tokens, not a whole number",
    });
    expect(scaleDecimal("3.0000000000000004e-07", 12, MICROS)).toEqual({
      problem: "3.0000000000000004e-07 is 300000.00000000004 micros per 1M tokens, not a whole number",
    });
    expect(scaleDecimal("150000.5", 0, MICROS).problem).toBe(
      "150000.5 is 150000.5 micros per 1M tokens, not a whole number",
    );
    expect(scaleDecimal("-1e-6", 12, MICROS).problem).toBe('"-1e-6" is negative');
    expect(scaleDecimal("abc", 12, MICROS).problem).toBe('"abc" is not a number');
    expect(scaleDecimal("1e99999", 0, MICROS).problem).toBe('"1e99999" is out of range');
  });
});

describe("parsePriceFile: LiteLLM", () => {
  it("converts dollars per token to exact micros per 1M tokens, tiers from *_above_200k_tokens", () => {
    const parsed = parsePriceFile(LITELLM, "model_prices_and_context_window.json");
    expect(parsed.format).toBe("litellm");
    const byLabel = Object.fromEntries(parsed.entries.map((e) => [e.label, e.price]));
    expect(byLabel["openai/gpt-4o-mini"]).toEqual({
      providerId: "openai",
      model: "gpt-4o-mini",
      inputMicrosPerMtok: 150_000n,
      outputMicrosPerMtok: 600_000n,
      cachedInputMicrosPerMtok: 75_000n,
      cacheWriteMicrosPerMtok: null,
      tiers: [],
    });
    expect(byLabel["anthropic/claude-sonnet-4-20250514"]).toEqual({
      providerId: "anthropic",
      model: "claude-sonnet-4-20250514",
      inputMicrosPerMtok: 3_000_000n,
      outputMicrosPerMtok: 15_000_000n,
      cachedInputMicrosPerMtok: 300_000n,
      cacheWriteMicrosPerMtok: 3_750_000n,
      tiers: [
        {
          aboveInputTokens: 200_000n,
          input: 6_000_000n,
          output: 22_500_000n,
          cacheWrite: 7_500_000n,
          cachedInput: 600_000n,
        },
      ],
    });
    expect(byLabel["gemini/gemini/gemini-2.5-pro"]?.tiers).toEqual([
      { aboveInputTokens: 200_000n, input: 2_500_000n, output: 15_000_000n },
    ]);
    expect(byLabel["deepseek/deepseek/deepseek-chat"]).toMatchObject({
      inputMicrosPerMtok: 270_000n,
      outputMicrosPerMtok: 1_100_000n,
      cachedInputMicrosPerMtok: 70_000n,
    });
    expect(byLabel["openai/text-embedding-3-small"]).toMatchObject({
      inputMicrosPerMtok: 20_000n,
      outputMicrosPerMtok: 0n,
    });
    expect(parsed.skipped).toEqual([
      { label: "openai/dall-e-3", reason: "no per-token input and output price (mode image_generation)" },
      {
        label: "fractional/fractional/tiny-model",
        reason: "input_cost_per_token: 1.23456789e-09 is 1234.56789 micros per 1M tokens, not a whole number",
      },
      {
        label: "fractional/fractional/float-noise",
        reason:
          "input_cost_per_token: 3.0000000000000004e-07 is 300000.00000000004 micros per 1M tokens, not a whole number",
      },
    ]);
  });
});

describe("parsePriceFile: Heidrun formats", () => {
  it("reads the example catalog with exact amounts and tiers", () => {
    const parsed = parsePriceFile(readFileSync(EXAMPLE_CATALOG_PATH, "utf8"), EXAMPLE_CATALOG_PATH);
    expect(parsed.format).toBe("heidrun-json");
    expect(parsed.skipped).toEqual([]);
    expect(parsed.entries.map((e) => e.label)).toEqual([
      "openai/gpt-4o-mini",
      "openai/gpt-4o",
      "anthropic/claude-sonnet-4",
      "anthropic/claude-haiku-3.5",
      "google/gemini-2.5-pro",
      "example-hosted/*",
    ]);
    expect(parsed.entries[2]?.price).toEqual({
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
      effectiveFrom: new Date("2025-01-01T00:00:00Z"),
      currency: "USD",
    });
  });

  it("skips JSON entries with unknown fields, fractions or missing prices, naming why", () => {
    const parsed = parsePriceFile(
      JSON.stringify({
        prices: [
          { provider_id: "p", model: "a", input_micros_per_mtok: 1, output_micros_per_mtok: "2" },
          { provider_id: "p", model: "b", input_micros_per_mtoks: 1, output_micros_per_mtok: 2 },
          { provider_id: "p", model: "c", input_micros_per_mtok: 1.5, output_micros_per_mtok: 2 },
          { provider_id: "p", model: "d", input_micros_per_mtok: 1 },
        ],
      }),
    );
    expect(
      parsed.entries.map((e) => [e.label, e.price.inputMicrosPerMtok, e.price.outputMicrosPerMtok]),
    ).toEqual([["p/a", 1n, 2n]]);
    expect(parsed.skipped).toEqual([
      { label: "p/b", reason: "unknown field input_micros_per_mtoks" },
      {
        label: "p/c",
        reason: "input_micros_per_mtok: 1.5 is 1.5 micros per 1M tokens, not a whole number",
      },
      { label: "p/d", reason: "output_micros_per_mtok is required" },
    ]);
  });

  it("reads CSV with tier rows, quotes and comments", () => {
    const csv = [
      "# Heidrun price catalog",
      "provider_id,model,above_input_tokens,input_micros_per_mtok,output_micros_per_mtok,cached_input_micros_per_mtok,cache_write_micros_per_mtok,effective_from",
      "anthropic,claude-sonnet-4,,3000000,15000000,300000,3750000,2025-01-01T00:00:00Z",
      "anthropic,claude-sonnet-4,200000,6000000,22500000,,,",
      '"acme","meta-llama/Llama-3.1-8B-Instruct",,"100000",200000,,,',
      "acme,broken,,12.5,1,,,",
      "acme,orphan,1000,1,1,,,",
      "",
    ].join("\n");
    const parsed = parsePriceFile(csv, "catalog.csv");
    expect(parsed.format).toBe("heidrun-csv");
    expect(parsed.entries.map((e) => e.price)).toEqual([
      {
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
            cachedInput: null,
            cacheWrite: null,
          },
        ],
        effectiveFrom: new Date("2025-01-01T00:00:00Z"),
      },
      {
        providerId: "acme",
        model: "meta-llama/Llama-3.1-8B-Instruct",
        inputMicrosPerMtok: 100_000n,
        outputMicrosPerMtok: 200_000n,
        cachedInputMicrosPerMtok: null,
        cacheWriteMicrosPerMtok: null,
        tiers: [],
        effectiveFrom: undefined,
      },
    ]);
    expect(parsed.skipped).toEqual([
      {
        label: "line 6 (acme/broken)",
        reason: "input_micros_per_mtok: 12.5 is 12.5 micros per 1M tokens, not a whole number",
      },
      { label: "line 7 (acme/orphan)", reason: "a tier row without a base row for acme/orphan" },
    ]);
  });

  it("refuses a file that is no catalog", () => {
    expect(() => parsePriceFile("[1,2]")).toThrow(PriceFileError);
    expect(() => parsePriceFile("not json")).toThrow(PriceFileError);
    expect(() => parsePriceFile("provider_id,price\nx,1", "x.csv")).toThrow(/unknown CSV column "price"/);
  });
});
