import { describe, expect, it } from "vitest";
import { DomainError, isDomainError } from "./errors";
import {
  assertInt64,
  assertNonNegativeMicros,
  assertPositiveMicros,
  INT64_MAX,
  INT64_MIN,
  isInt64,
  parseTokens,
  parseUnitsAsMicros,
} from "./money";

function failure(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error("expected a DomainError");
}

describe("DomainError constructors", () => {
  it("give each code its retry flag", () => {
    expect(DomainError.notFound("no price")).toMatchObject({ code: "NOT_FOUND", retryable: false });
    expect(DomainError.conflict("twice")).toMatchObject({ code: "ALREADY_EXISTS", retryable: false });
    expect(DomainError.precondition("cancelled")).toMatchObject({
      code: "FAILED_PRECONDITION",
      retryable: false,
    });
    const cause = new Error("socket closed");
    const unavailable = DomainError.unavailable("down", cause);
    expect(unavailable).toMatchObject({ code: "UNAVAILABLE", retryable: true, message: "down" });
    expect(unavailable.cause).toBe(cause);
    expect(new DomainError("RESOURCE_EXHAUSTED", "full").retryable).toBe(true);
    expect(new DomainError("INTERNAL", "x", { retryable: true }).retryable).toBe(true);
    expect(DomainError.invalid("usage.input_tokens", "is required")).toMatchObject({
      code: "INVALID_ARGUMENT",
      field: "usage.input_tokens",
      message: "usage.input_tokens: is required",
    });
  });

  it("are recognised by isDomainError, other errors are not", () => {
    expect(isDomainError(DomainError.notFound("x"))).toBe(true);
    expect(isDomainError(new Error("x"))).toBe(false);
    expect(isDomainError("NOT_FOUND")).toBe(false);
  });
});

describe("money range checks", () => {
  it("knows the int64 range exactly", () => {
    expect(isInt64(INT64_MAX)).toBe(true);
    expect(isInt64(INT64_MIN)).toBe(true);
    expect(isInt64(INT64_MAX + 1n)).toBe(false);
    expect(isInt64(INT64_MIN - 1n)).toBe(false);
    expect(failure(() => assertInt64(INT64_MAX + 1n, "amount_micros")).message).toBe(
      "amount_micros: is outside the int64 range",
    );
    expect(failure(() => assertInt64(null, "amount_micros")).message).toBe(
      "amount_micros: must be an integer, got null",
    );
  });

  it("refuses negative and zero amounts where they make no sense", () => {
    expect(assertNonNegativeMicros(0n, "cost")).toBe(0n);
    expect(failure(() => assertNonNegativeMicros(-1n, "cost")).message).toBe(
      "cost: must not be negative, got -1",
    );
    expect(assertPositiveMicros(1n, "amount_micros")).toBe(1n);
    expect(failure(() => assertPositiveMicros(0n, "amount_micros")).message).toBe(
      "amount_micros: must be greater than 0, got 0",
    );
  });

  it("parses only decimal text", () => {
    expect(failure(() => parseTokens(5, "input_tokens")).message).toBe(
      "input_tokens: must be a decimal string, got number",
    );
    expect(failure(() => parseUnitsAsMicros(0.15, "price")).message).toBe(
      "price: must be a decimal string, got number",
    );
    expect(parseUnitsAsMicros("-$0.01", "price")).toBe(-10_000n);
  });

  it("refuses text longer than any int64 amount without parsing it, quoting only its start", () => {
    const long = "1".repeat(41);
    expect(failure(() => parseUnitsAsMicros(long, "price")).message).toBe(
      `price: must be a decimal amount with at most 6 decimals, got "${"1".repeat(40)}"`,
    );
  });
});

describe("edge answers of the validators", () => {
  it("name the type of a non-bigint token count and a missing usage", async () => {
    const { assertTokenCount } = await import("./money");
    const { validateUsage } = await import("./usage");
    const { validateCommissionSettings } = await import("./commission");
    expect(failure(() => assertTokenCount("5", "output_tokens")).message).toBe(
      "output_tokens: must be an integer, got string",
    );
    expect(
      failure(() =>
        validateUsage(
          { inputTokens: null, outputTokens: 0n, cachedInputTokens: 0n, cacheWriteTokens: 0n } as never,
          "usage",
        ),
      ).message,
    ).toBe("usage.input_tokens: must be an integer, got null");
    expect(failure(() => validateUsage(null as never, "")).message).toBe("usage: is required");
    expect(
      failure(() =>
        validateCommissionSettings({ defaultBps: 1500, minBps: 1600, maxBps: 1500, overrides: {} }),
      ).message,
    ).toBe("commission.minBps: 1600 is above maxBps 1500");
  });
});
