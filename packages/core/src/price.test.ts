import { describe, expect, it } from "vitest";
import { CLAUDE_SONNET_4, expectInvalid, GPT_4O_MINI } from "./list-prices.fixture";
import { CompiledPrice, compilePrice, type PriceVersion, validatePriceVersion } from "./price";

describe("validatePriceVersion", () => {
  it("names a missing price by its prefix, or as price when there is none", () => {
    expectInvalid(() => validatePriceVersion(null as unknown as PriceVersion, "prices[3]"), "prices[3]");
    expectInvalid(() => validatePriceVersion(null as unknown as PriceVersion, ""), "price", /is required/);
    expectInvalid(() => validatePriceVersion("gpt" as unknown as PriceVersion), "price", /is required/);
  });

  it("refuses an invalid effective_from", () => {
    expectInvalid(
      () => validatePriceVersion({ ...GPT_4O_MINI, effectiveFrom: new Date("not a date") }),
      "price.effective_from",
      /valid timestamp/,
    );
    expectInvalid(
      () => validatePriceVersion({ ...GPT_4O_MINI, effectiveFrom: "2025-08-01" as unknown as Date }),
      "price.effective_from",
    );
  });

  it("refuses tiers that are not a list", () => {
    expectInvalid(
      () => validatePriceVersion({ ...GPT_4O_MINI, tiers: {} as unknown as PriceVersion["tiers"] }),
      "price.tiers",
      /must be a list/,
    );
  });

  it("refuses a negative version", () => {
    expectInvalid(
      () => validatePriceVersion({ ...GPT_4O_MINI, version: -1n }),
      "price.version",
      /must not be negative/,
    );
    expect(validatePriceVersion({ ...GPT_4O_MINI, version: 0n }).version).toBe(0n);
  });
});

describe("CompiledPrice.pricesFor", () => {
  const sonnet = new CompiledPrice(CLAUDE_SONNET_4);

  it("picks the tier only above its threshold", () => {
    expect(sonnet.pricesFor(200_000n).input).toBe(3_000_000n);
    expect(sonnet.pricesFor(200_001n).input).toBe(6_000_000n);
  });

  it("answers the base level for a count no tier claims, even a negative one", () => {
    expect(sonnet.pricesFor(0n).input).toBe(3_000_000n);
    expect(sonnet.pricesFor(-5n).output).toBe(15_000_000n);
    expect(compilePrice(GPT_4O_MINI).pricesFor(-1n).cachedInput).toBe(75_000n);
  });
});
