import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DomainError } from "./errors";
import {
  assertInt64,
  assertNonNegativeMicros,
  assertPositiveMicros,
  assertTokenCount,
  formatMicrosAsDecimal,
  formatMicrosAsUsd,
  INT64_MAX,
  INT64_MIN,
  MAX_TOKENS,
  parseMicros,
  parseTokens,
  parseUnitsAsMicros,
} from "./money";
import { validateUsage } from "./usage";

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError && error.code === "INVALID_ARGUMENT") return error.field;
    throw error;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

describe("parseMicros", () => {
  it("parses canonical decimal integers across the whole int64 range", () => {
    expect(parseMicros("0", "f")).toBe(0n);
    expect(parseMicros("150000", "f")).toBe(150_000n);
    expect(parseMicros("-42", "f")).toBe(-42n);
    expect(parseMicros("9223372036854775807", "f")).toBe(INT64_MAX);
    expect(parseMicros("-9223372036854775808", "f")).toBe(INT64_MIN);
  });

  it.each([
    "",
    " 1",
    "1 ",
    "+1",
    "01",
    "-0",
    "1.0",
    "1e3",
    "0x10",
    "1_000",
    "9223372036854775808",
    "-9223372036854775809",
    "1".repeat(400),
  ])("refuses %j, naming the field", (text) => {
    expect(fieldOf(() => parseMicros(text, "items[2].amount_micros"))).toBe("items[2].amount_micros");
  });

  it("refuses non-strings", () => {
    expect(fieldOf(() => parseMicros(5 as unknown, "amount_micros"))).toBe("amount_micros");
  });

  it("round-trips every int64 through toString (10,000 runs)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
        (value) => parseMicros(value.toString(), "f") === value,
      ),
      { numRuns: 10_000 },
    );
  });
});

describe("parseTokens", () => {
  it("accepts 0..10^12 and refuses the rest", () => {
    expect(parseTokens("0", "t")).toBe(0n);
    expect(parseTokens("1000000000000", "t")).toBe(MAX_TOKENS);
    for (const text of ["1000000000001", "-1", "1.5", "", "007"])
      expect(fieldOf(() => parseTokens(text, "t"))).toBe("t");
  });
});

describe("parseUnitsAsMicros", () => {
  it.each([
    ["0.15", 150_000n],
    ["$0.075", 75_000n],
    ["3", 3_000_000n],
    ["22.50", 22_500_000n],
    ["0.000001", 1n],
    ["-$1.5", -1_500_000n],
    ["1000000", 1_000_000_000_000n],
  ])("%s → %s micros", (text, micros) => {
    expect(parseUnitsAsMicros(text, "price")).toBe(micros);
  });

  it.each(["0.0000001", "1e-6", ".5", "5.", "", "$", "-0", "1,50", "9223372036854.775808"])(
    "refuses %j",
    (text) => {
      expect(fieldOf(() => parseUnitsAsMicros(text, "price"))).toBe("price");
    },
  );
});

describe("formatting", () => {
  it.each([
    [75n, "$0.000075"],
    [10_000n, "$0.01"],
    [0n, "$0.00"],
    [1_500_000n, "$1.50"],
    [1_245_006n, "$1.245006"],
    [-10_000n, "-$0.01"],
    [INT64_MAX, "$9223372036854.775807"],
    [INT64_MIN, "-$9223372036854.775808"],
  ])("%s micros → %s", (micros, text) => {
    expect(formatMicrosAsUsd(micros)).toBe(text);
    expect(parseUnitsAsMicros(text, "x")).toBe(micros);
  });

  it("formats without a symbol too", () => {
    expect(formatMicrosAsDecimal(314n)).toBe("0.000314");
  });
});

describe("range checks", () => {
  it("checks int64, sign and token bounds, naming the field", () => {
    expect(assertInt64(INT64_MIN, "a")).toBe(INT64_MIN);
    expect(fieldOf(() => assertInt64(INT64_MAX + 1n, "a"))).toBe("a");
    expect(fieldOf(() => assertInt64(1, "a"))).toBe("a");
    expect(fieldOf(() => assertNonNegativeMicros(-1n, "credit_limit_micros"))).toBe("credit_limit_micros");
    expect(fieldOf(() => assertPositiveMicros(0n, "amount_micros"))).toBe("amount_micros");
    expect(assertTokenCount(MAX_TOKENS, "t")).toBe(MAX_TOKENS);
    expect(fieldOf(() => assertTokenCount(MAX_TOKENS + 1n, "t"))).toBe("t");
  });

  it("validates usage with the caller's field prefix", () => {
    const usage = { inputTokens: 10n, outputTokens: 0n, cachedInputTokens: 4n, cacheWriteTokens: 6n };
    expect(validateUsage(usage, "usage")).toBe(usage);
    expect(fieldOf(() => validateUsage({ ...usage, cacheWriteTokens: 7n }, "items[3].usage"))).toBe(
      "items[3].usage.cached_input_tokens",
    );
    expect(fieldOf(() => validateUsage({ ...usage, inputTokens: -1n }, ""))).toBe("input_tokens");
    expect(fieldOf(() => validateUsage({ ...usage, cachedInputTokens: -1n }, "u"))).toBe(
      "u.cached_input_tokens",
    );
    expect(fieldOf(() => validateUsage(undefined as never, "items[0].usage"))).toBe("items[0].usage");
  });
});
