import { DomainError } from "./errors";
import { MAX_TOKENS, type Tokens } from "./money";

/** Token usage of one request, as on the wire (common.proto Usage). */
export interface Usage {
  /** All prompt tokens, cached and cache-written ones included. */
  inputTokens: Tokens;
  /** Completion tokens, reasoning tokens included. */
  outputTokens: Tokens;
  /** Part of inputTokens read from a prompt cache. */
  cachedInputTokens: Tokens;
  /** Part of inputTokens written to a prompt cache. */
  cacheWriteTokens: Tokens;
}

export const ZERO_USAGE: Readonly<Usage> = Object.freeze({
  inputTokens: 0n,
  outputTokens: 0n,
  cachedInputTokens: 0n,
  cacheWriteTokens: 0n,
});

/** `items[3].usage` + `input_tokens` → `items[3].usage.input_tokens`; an empty prefix gives the bare name. */
export function fieldPath(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

function tokenCountProblem(value: unknown): string | undefined {
  if (typeof value !== "bigint") return `must be an integer, got ${value === null ? "null" : typeof value}`;
  if (value < 0n || value > MAX_TOKENS) return `must be between 0 and 1000000000000 tokens, got ${value}`;
  return undefined;
}

function checkCount(value: unknown, prefix: string, name: string): void {
  const problem = tokenCountProblem(value);
  if (problem !== undefined) throw DomainError.invalid(fieldPath(prefix, name), problem);
}

/**
 * Checks ranges (0 ≤ n ≤ 10^12) and that the cached and cache-written parts fit inside input_tokens. Field names
 * in errors are the wire's (`usage.cached_input_tokens`), since that is what the caller can fix.
 */
export function validateUsage(usage: Usage, fieldPrefix: string): Usage {
  if (typeof usage !== "object" || usage === null) {
    throw DomainError.invalid(fieldPrefix || "usage", "is required");
  }
  // Hot path (every calculateCost): plain comparisons first, strings only once something is wrong.
  const { inputTokens, outputTokens, cachedInputTokens, cacheWriteTokens } = usage;
  if (
    typeof inputTokens === "bigint" &&
    typeof outputTokens === "bigint" &&
    typeof cachedInputTokens === "bigint" &&
    typeof cacheWriteTokens === "bigint" &&
    inputTokens >= 0n &&
    inputTokens <= MAX_TOKENS &&
    outputTokens >= 0n &&
    outputTokens <= MAX_TOKENS &&
    cachedInputTokens >= 0n &&
    cacheWriteTokens >= 0n &&
    cachedInputTokens + cacheWriteTokens <= inputTokens
  ) {
    return usage;
  }
  checkCount(inputTokens, fieldPrefix, "input_tokens");
  checkCount(outputTokens, fieldPrefix, "output_tokens");
  checkCount(cachedInputTokens, fieldPrefix, "cached_input_tokens");
  checkCount(cacheWriteTokens, fieldPrefix, "cache_write_tokens");
  throw DomainError.invalid(
    fieldPath(fieldPrefix, "cached_input_tokens"),
    `cached_input_tokens (${cachedInputTokens}) + cache_write_tokens (${cacheWriteTokens}) must not exceed input_tokens (${inputTokens})`,
  );
}
