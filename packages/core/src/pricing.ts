import { DomainError } from "./errors";
import { assertTokenCount, INT64_MAX, type Micros, type Tokens } from "./money";
import { type CompiledPrice, compilePrice, type PriceVersion } from "./price";
import { type Usage, validateUsage } from "./usage";

/** The answer of the pricing formula (spec/api.md "Pricing formula"); every amount in micros. */
export interface CostBreakdown {
  /** The exact cost rounded UP once to the rounding increment. */
  totalCostMicros: Micros;
  /** floor(uncached input × p_in / 1e6) */
  inputCostMicros: Micros;
  outputCostMicros: Micros;
  cachedInputCostMicros: Micros;
  cacheWriteCostMicros: Micros;
  /** total − the four components; ≥ 0. */
  roundingMicros: Micros;
  /** The threshold of the tier that priced the request, null for the base prices. */
  tierAboveInputTokens: Tokens | null;
}

export const DEFAULT_ROUNDING_INCREMENT_MICROS = 1n;

const MICROS_SCALE = 1_000_000n;
const MICROS_SCALE_MINUS_ONE = 999_999n;

function checkIncrement(increment: Micros): void {
  if (typeof increment !== "bigint" || increment < 1n || increment > INT64_MAX) {
    throw DomainError.invalid(
      "rounding_increment_micros",
      `must be a whole number of micros ≥ 1, got ${increment}`,
    );
  }
}

/**
 * Prices one request: the tier with the largest threshold below input_tokens, per-kind fallbacks, the exact
 * rational total rounded up once to `roundingIncrementMicros`, components floored, rounding = the difference.
 * A plain PriceVersion is validated and compiled on first use (see compilePrice).
 * Throws INVALID_ARGUMENT for invalid usage, and when the total would not fit in int64.
 */
export function calculateCost(
  usage: Usage,
  price: PriceVersion | CompiledPrice,
  roundingIncrementMicros: Micros = DEFAULT_ROUNDING_INCREMENT_MICROS,
): CostBreakdown {
  validateUsage(usage, "usage");
  checkIncrement(roundingIncrementMicros);
  const compiled = compilePrice(price);
  return priceValidatedUsage(
    usage.inputTokens,
    usage.outputTokens,
    usage.cachedInputTokens,
    usage.cacheWriteTokens,
    compiled,
    roundingIncrementMicros,
  );
}

/**
 * The amount held by a pre-authorization: the formula with output = max_output_tokens and no cache use (the
 * caller cannot know the cache hit in advance, and uncached input is the most a prompt can cost).
 */
export function estimatePreAuth(
  inputTokens: Tokens,
  maxOutputTokens: Tokens,
  price: PriceVersion | CompiledPrice,
  roundingIncrementMicros: Micros = DEFAULT_ROUNDING_INCREMENT_MICROS,
): CostBreakdown {
  assertTokenCount(inputTokens, "estimated_input_tokens");
  assertTokenCount(maxOutputTokens, "max_output_tokens");
  checkIncrement(roundingIncrementMicros);
  const compiled = compilePrice(price);
  return priceValidatedUsage(inputTokens, maxOutputTokens, 0n, 0n, compiled, roundingIncrementMicros);
}

function priceValidatedUsage(
  inputTokens: Tokens,
  outputTokens: Tokens,
  cachedInputTokens: Tokens,
  cacheWriteTokens: Tokens,
  price: CompiledPrice,
  increment: Micros,
): CostBreakdown {
  const prices = price.pricesFor(inputTokens);
  // Each product is micros × 10^6 (tokens × micros-per-million-tokens): exact integers, bigint never overflows.
  const inputScaled = (inputTokens - cachedInputTokens - cacheWriteTokens) * prices.input;
  const cachedScaled = cachedInputTokens * prices.cachedInput;
  const writeScaled = cacheWriteTokens * prices.cacheWrite;
  const outputScaled = outputTokens * prices.output;
  const exactScaled = inputScaled + cachedScaled + writeScaled + outputScaled;

  let total: Micros;
  if (increment === 1n) {
    total = (exactScaled + MICROS_SCALE_MINUS_ONE) / MICROS_SCALE;
  } else {
    const step = increment * MICROS_SCALE;
    total = ((exactScaled + step - 1n) / step) * increment;
  }
  if (total > INT64_MAX) {
    throw DomainError.invalid(
      "usage",
      `cost exceeds int64: ${total} micros at price version ${price.version}`,
    );
  }

  const inputCost = inputScaled / MICROS_SCALE;
  const cachedCost = cachedScaled / MICROS_SCALE;
  const writeCost = writeScaled / MICROS_SCALE;
  const outputCost = outputScaled / MICROS_SCALE;
  return {
    totalCostMicros: total,
    inputCostMicros: inputCost,
    outputCostMicros: outputCost,
    cachedInputCostMicros: cachedCost,
    cacheWriteCostMicros: writeCost,
    roundingMicros: total - inputCost - cachedCost - writeCost - outputCost,
    tierAboveInputTokens: prices.tierAboveInputTokens,
  };
}
