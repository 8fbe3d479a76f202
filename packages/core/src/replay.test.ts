import { describe, expect, it } from "vitest";
import { assertIdenticalReplay, isIdenticalReplay, requestFingerprint } from "./replay";

describe("replay identity", () => {
  const capture = {
    preauthId: "pa-1",
    usage: { inputTokens: 10n, outputTokens: 5n, cachedInputTokens: 0n, cacheWriteTokens: 0n },
  };

  it("ignores key order and unset optionals", () => {
    const reordered = {
      usage: { cacheWriteTokens: 0n, cachedInputTokens: 0n, outputTokens: 5n, inputTokens: 10n },
      preauthId: "pa-1",
      reason: undefined,
    };
    expect(isIdenticalReplay(capture, reordered)).toBe(true);
  });

  it("treats undefined as null wherever it stands outside a record", () => {
    expect(requestFingerprint(undefined)).toBe("null");
    expect(isIdenticalReplay([1, undefined], [1, null])).toBe(true);
    expect(isIdenticalReplay([1, undefined], [1])).toBe(false);
  });

  it("tells apart different values and different types", () => {
    expect(isIdenticalReplay(capture, { ...capture, usage: { ...capture.usage, outputTokens: 6n } })).toBe(
      false,
    );
    expect(isIdenticalReplay({ a: 5n }, { a: 5 })).toBe(false);
    expect(isIdenticalReplay({ a: 5n }, { a: "5" })).toBe(false);
    expect(isIdenticalReplay({ at: new Date(0) }, { at: new Date(1) })).toBe(false);
    expect(isIdenticalReplay([1, 2], [2, 1])).toBe(false);
  });

  it("keeps every digit of int64 values", () => {
    expect(requestFingerprint({ amount: 9_223_372_036_854_775_807n })).toBe(
      '{"amount":9223372036854775807n}',
    );
    expect(isIdenticalReplay({ a: 9_007_199_254_740_993n }, { a: 9_007_199_254_740_992n })).toBe(false);
  });

  it("refuses a reused request_id with other arguments as ALREADY_EXISTS", () => {
    expect(() => assertIdenticalReplay("req-1", capture, capture)).not.toThrow();
    expect(() => assertIdenticalReplay("req-1", capture, { ...capture, preauthId: "pa-2" })).toThrow(
      expect.objectContaining({
        code: "ALREADY_EXISTS",
        message: "request_id req-1 was already used with different arguments",
      }),
    );
  });
});
