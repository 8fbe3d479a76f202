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
  const p = price.pricesFor(inputTokens);
  const uncachedTokens = inputTokens - cachedInputTokens - cacheWriteTokens;
  // tokens × price / 10^6 = tokens × whole + (tokens × remainder) / 10^6: the same exact value, from products
  // that stay below 2^63 (see PriceLevel). The fractions left over are kept exactly, in millionths of a micro.
  const inputFraction = uncachedTokens * p.inputRemainder;
  const cachedFraction = cachedInputTokens * p.cachedInputRemainder;
  const writeFraction = cacheWriteTokens * p.cacheWriteRemainder;
  const outputFraction = outputTokens * p.outputRemainder;
  const inputCarry = inputFraction / MICROS_SCALE;
  const cachedCarry = cachedFraction / MICROS_SCALE;
  const writeCarry = writeFraction / MICROS_SCALE;
  const outputCarry = outputFraction / MICROS_SCALE;
  const inputCost = uncachedTokens * p.inputWhole + inputCarry;
  const cachedCost = cachedInputTokens * p.cachedInputWhole + cachedCarry;
  const writeCost = cacheWriteTokens * p.cacheWriteWhole + writeCarry;
  const outputCost = outputTokens * p.outputWhole + outputCarry;
  const components = inputCost + cachedCost + writeCost + outputCost;
  // exact = components + leftover / 10^6, with 0 ≤ leftover < 4 × 10^6 (four floors, each losing < 1 micro).
  const leftover =
    inputFraction -
    inputCarry * MICROS_SCALE +
    (cachedFraction - cachedCarry * MICROS_SCALE) +
    (writeFraction - writeCarry * MICROS_SCALE) +
    (outputFraction - outputCarry * MICROS_SCALE);

  let total: Micros;
  if (increment === 1n) {
    total = components + (leftover + MICROS_SCALE_MINUS_ONE) / MICROS_SCALE;
  } else {
    // ceil((components × 10^6 + leftover) / (increment × 10^6)) × increment, without forming the wide numerator:
    // components = steps × increment + partial, so only partial × 10^6 + leftover is divided.
    const steps = components / increment;
    const partial = components - steps * increment;
    const step = increment * MICROS_SCALE;
    total = (steps + (partial * MICROS_SCALE + leftover + step - 1n) / step) * increment;
  }
  if (total > INT64_MAX) {
    throw DomainError.invalid(
      "usage",
      `cost exceeds int64: ${total} micros at price version ${price.version}`,
    );
  }
  return {
    totalCostMicros: total,
    inputCostMicros: inputCost,
    outputCostMicros: outputCost,
    cachedInputCostMicros: cachedCost,
    cacheWriteCostMicros: writeCost,
    roundingMicros: total - components,
    tierAboveInputTokens: p.tierAboveInputTokens,
  };
}
