// Shared by the pricing tests: the list prices of docs/formulas.md and small builders. Not exported from core.
import { expect } from "vitest";
import { DomainError } from "./errors";
import type { PriceVersion } from "./price";
import type { CostBreakdown } from "./pricing";
import type { Usage } from "./usage";

// List prices of docs/formulas.md, in micros per 1M tokens.
export const base = {
  effectiveFrom: new Date("2025-08-01T00:00:00Z"),
  version: 1n,
  currency: "USD",
  tiers: [],
};
export const GPT_4O_MINI: PriceVersion = {
  ...base,
  providerId: "openai",
  model: "gpt-4o-mini",
  inputMicrosPerMtok: 150_000n,
  outputMicrosPerMtok: 600_000n,
  cachedInputMicrosPerMtok: 75_000n,
};
export const CLAUDE_SONNET_4: PriceVersion = {
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
export const GEMINI_2_5_PRO: PriceVersion = {
  ...base,
  providerId: "google",
  model: "gemini-2.5-pro",
  inputMicrosPerMtok: 1_250_000n,
  outputMicrosPerMtok: 10_000_000n,
  tiers: [{ aboveInputTokens: 200_000n, input: 2_500_000n, output: 15_000_000n }],
};

export function usage(input: bigint, output: bigint, cached = 0n, write = 0n): Usage {
  return { inputTokens: input, outputTokens: output, cachedInputTokens: cached, cacheWriteTokens: write };
}

export function breakdown(
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

export function expectInvalid(run: () => unknown, field: string, message?: RegExp): void {
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
