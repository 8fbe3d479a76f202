import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CommissionSettings,
  resolveCommissionBps,
  splitCommission,
  validateCommissionSettings,
} from "./commission";
import { DomainError } from "./errors";
import { INT64_MAX } from "./money";

function caught(run: () => unknown): DomainError {
  try {
    run();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error("expected a DomainError");
}

describe("splitCommission: worked examples of docs/formulas.md", () => {
  const cases: [bigint, number, bigint, bigint][] = [
    // total, bps, fee, earnings
    [314n, 1_500, 47n, 267n], // 47.1
    [75n, 1_500, 11n, 64n], // 11.25
    [1_245_006n, 1_500, 186_751n, 1_058_255n], // 186,750.9
    [16_650n, 1_500, 2_498n, 14_152n], // tie 2,497.5 → even 2,498
    [10n, 1_500, 2n, 8n], // tie 1.5 → 2
    [30n, 1_500, 4n, 26n], // tie 4.5 → 4
    [50n, 1_500, 8n, 42n], // tie 7.5 → 8
    [70n, 1_500, 10n, 60n], // tie 10.5 → 10
    [1n, 5_000, 0n, 1n], // tie 0.5 → 0
    [3n, 5_000, 2n, 1n], // tie 1.5 → 2
    [0n, 1_500, 0n, 0n],
    [1_000_000n, 0, 0n, 1_000_000n],
    [1_000_000n, 10_000, 1_000_000n, 0n],
    [INT64_MAX, 10_000, INT64_MAX, 0n],
    [INT64_MAX, 1, 922_337_203_685_478n, 9_222_449_699_651_090_329n],
    [INT64_MAX, 1_500, 1_383_505_805_528_216_371n, 7_839_866_231_326_559_436n],
  ];

  it.each(cases)("%s micros at %s bps: fee %s, earnings %s", (total, bps, fee, earnings) => {
    expect(splitCommission(total, bps)).toEqual({
      totalCostMicros: total,
      providerEarningsMicros: earnings,
      companyFeeMicros: fee,
      commissionRateBps: bps,
    });
  });

  it("refuses negative or oversized totals and out-of-range or fractional rates", () => {
    expect(caught(() => splitCommission(-1n, 1_500)).field).toBe("total_cost_micros");
    expect(caught(() => splitCommission(INT64_MAX + 1n, 1_500)).field).toBe("total_cost_micros");
    for (const bps of [-1, 10_001, 15.5, Number.NaN]) {
      expect(caught(() => splitCommission(100n, bps)).field).toBe("commission_rate_bps");
    }
  });
});

describe("splitCommission properties (10,000 runs each)", () => {
  const total = fc.bigInt({ min: 0n, max: INT64_MAX });
  const bps = fc.integer({ min: 0, max: 10_000 });

  it("fee + earnings = total, both within [0, total]", () => {
    fc.assert(
      fc.property(total, bps, (t, b) => {
        const split = splitCommission(t, b);
        return (
          split.companyFeeMicros + split.providerEarningsMicros === t &&
          split.companyFeeMicros >= 0n &&
          split.providerEarningsMicros >= 0n
        );
      }),
      { numRuns: 10_000 },
    );
  });

  it("the fee is the nearest integer to total × bps / 10,000, ties to even", () => {
    fc.assert(
      fc.property(total, bps, (t, b) => {
        const fee = splitCommission(t, b).companyFeeMicros;
        // |fee × 10,000 − total × bps| ≤ 5,000, with equality only for an even fee.
        const distance = fee * 10_000n - t * BigInt(b);
        const absolute = distance < 0n ? -distance : distance;
        return absolute < 5_000n || (absolute === 5_000n && fee % 2n === 0n);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe("resolveCommissionBps", () => {
  const settings: CommissionSettings = {
    defaultBps: 1_500,
    minBps: 500,
    maxBps: 3_000,
    overrides: { "provider-a": 1_000, "provider-b": 3_500 },
  };

  it("uses the provider's override, else the default", () => {
    expect(resolveCommissionBps("provider-a", settings)).toBe(1_000);
    expect(resolveCommissionBps("provider-z", settings)).toBe(1_500);
  });

  it("does not mistake Object.prototype members for overrides", () => {
    expect(resolveCommissionBps("constructor", settings)).toBe(1_500);
    expect(resolveCommissionBps("toString", { ...settings, overrides: {} })).toBe(1_500);
  });

  it("refuses a configured rate outside the allowed range with FAILED_PRECONDITION", () => {
    const error = caught(() => resolveCommissionBps("provider-b", settings));
    expect(error.code).toBe("FAILED_PRECONDITION");
    expect(error.message).toBe(
      "override for provider provider-b 3500 bps is outside the allowed range 500–3000 bps",
    );
    const badDefault = caught(() => resolveCommissionBps("x", { ...settings, defaultBps: 100 }));
    expect(badDefault.message).toBe(
      "default commission rate 100 bps is outside the allowed range 500–3000 bps",
    );
    expect(caught(() => resolveCommissionBps("x", { ...settings, minBps: 4_000 })).code).toBe(
      "FAILED_PRECONDITION",
    );
  });

  it("refuses an invalid provider id with INVALID_ARGUMENT", () => {
    const error = caught(() => resolveCommissionBps("bad id", settings));
    expect([error.code, error.field]).toEqual(["INVALID_ARGUMENT", "provider_id"]);
  });
});

describe("validateCommissionSettings", () => {
  it("accepts consistent settings and names the first bad one", () => {
    const good = { defaultBps: 1_500, minBps: 0, maxBps: 10_000, overrides: { p1: 0 } };
    expect(validateCommissionSettings(good)).toBe(good);
    expect(caught(() => validateCommissionSettings({ ...good, maxBps: 10_001 })).field).toBe(
      "commission.maxBps",
    );
    expect(caught(() => validateCommissionSettings({ ...good, minBps: 2_000 })).field).toBe(
      "commission.defaultBps",
    );
    expect(caught(() => validateCommissionSettings({ ...good, overrides: { p1: 1.5 } })).field).toBe(
      "commission.overrides.p1",
    );
  });

  it("says what a bad value was: a number as written, anything else by its type", () => {
    const good = { defaultBps: 1_500, minBps: 100, maxBps: 3_000, overrides: {} };
    expect(validateCommissionSettings(good)).toBe(good);
    const notANumber = caught(() =>
      validateCommissionSettings({ ...good, minBps: "100" as unknown as number }, "settings.commission"),
    );
    expect(notANumber.field).toBe("settings.commission.minBps");
    expect(notANumber.message).toContain("must be an integer from 0 to 10000, got string");
    expect(caught(() => validateCommissionSettings({ ...good, maxBps: 99.5 })).message).toContain("got 99.5");
    const textOverride = caught(() =>
      validateCommissionSettings({ ...good, overrides: { p1: "15" as unknown as number } }),
    );
    expect(textOverride.field).toBe("commission.overrides.p1");
    expect(textOverride.message).toContain("string bps is outside the allowed 100–3000 bps");
    const belowMin = caught(() => validateCommissionSettings({ ...good, overrides: { p1: 99 } }));
    expect(belowMin.message).toContain("99 bps is outside the allowed 100–3000 bps");
    expect(caught(() => validateCommissionSettings({ ...good, overrides: { "bad id!": 1_000 } })).field).toBe(
      "commission.overrides.bad id!",
    );
  });
});
