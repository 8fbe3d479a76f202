import { DomainError } from "./errors";
import { validateId, validateModel } from "./identifiers";
import {
  assertInt64,
  assertPriceMicrosPerMtok,
  assertTokenCount,
  type MicrosPerMtok,
  type Tokens,
} from "./money";
import { fieldPath } from "./usage";

/** Long-context pricing: applies to the WHOLE request once input_tokens > aboveInputTokens. Unset: the base price of the kind. */
export interface PriceTier {
  aboveInputTokens: Tokens;
  input?: MicrosPerMtok | null;
  output?: MicrosPerMtok | null;
  cachedInput?: MicrosPerMtok | null;
  cacheWrite?: MicrosPerMtok | null;
}

/** One version of a price, mirroring common.proto PriceConfig. Treat as immutable once compiled. */
export interface PriceVersion {
  providerId: string;
  /** "*" = default for the provider's models without their own price. */
  model: string;
  inputMicrosPerMtok: MicrosPerMtok;
  outputMicrosPerMtok: MicrosPerMtok;
  /** Unset: the input price. */
  cachedInputMicrosPerMtok?: MicrosPerMtok | null;
  /** Unset: the input price. */
  cacheWriteMicrosPerMtok?: MicrosPerMtok | null;
  tiers: readonly PriceTier[];
  effectiveFrom: Date;
  /** Assigned by Heidrun, increasing per (providerId, model). */
  version: bigint;
  /** ISO 4217, the deployment currency. */
  currency: string;
}

/** The four per-kind prices that apply to a request, fallbacks already resolved. */
export interface ResolvedPrices {
  /** null for the base prices, else the threshold of the tier that applies. */
  readonly tierAboveInputTokens: Tokens | null;
  readonly input: MicrosPerMtok;
  readonly output: MicrosPerMtok;
  readonly cachedInput: MicrosPerMtok;
  readonly cacheWrite: MicrosPerMtok;
}

/**
 * Each price split as whole micros per token + the remainder in millionths of a micro per token
 * (price = whole × 10^6 + remainder), so that tokens × price / 10^6 is computed from products below 2^63
 * for every price up to 10^12 and count up to 10^12. V8 runs bigint arithmetic that stays within 64 bits on
 * a fast path, and leaves it for good once a wider value turns up.
 */
export interface PriceLevel extends ResolvedPrices {
  /** Strictly below every valid input count for the base level, so the base always matches last. */
  readonly appliesAbove: bigint;
  readonly inputWhole: bigint;
  readonly inputRemainder: bigint;
  readonly outputWhole: bigint;
  readonly outputRemainder: bigint;
  readonly cachedInputWhole: bigint;
  readonly cachedInputRemainder: bigint;
  readonly cacheWriteWhole: bigint;
  readonly cacheWriteRemainder: bigint;
}

const PER_MTOK = 1_000_000n;

function priceLevel(
  appliesAbove: bigint,
  tierAboveInputTokens: Tokens | null,
  input: MicrosPerMtok,
  output: MicrosPerMtok,
  cachedInput: MicrosPerMtok,
  cacheWrite: MicrosPerMtok,
): PriceLevel {
  return {
    appliesAbove,
    tierAboveInputTokens,
    input,
    output,
    cachedInput,
    cacheWrite,
    inputWhole: input / PER_MTOK,
    inputRemainder: input % PER_MTOK,
    outputWhole: output / PER_MTOK,
    outputRemainder: output % PER_MTOK,
    cachedInputWhole: cachedInput / PER_MTOK,
    cachedInputRemainder: cachedInput % PER_MTOK,
    cacheWriteWhole: cacheWrite / PER_MTOK,
    cacheWriteRemainder: cacheWrite % PER_MTOK,
  };
}

const CURRENCY_CODE = /^[A-Z]{3}$/;

function optionalPrice(value: unknown, field: string): MicrosPerMtok | null {
  return value === undefined || value === null ? null : assertPriceMicrosPerMtok(value, field);
}

/** Checks every field of a price version, naming offending fields under `fieldPrefix` (e.g. `price.tiers[1].input_micros_per_mtok`). */
export function validatePriceVersion(price: PriceVersion, fieldPrefix = "price"): PriceVersion {
  if (typeof price !== "object" || price === null) {
    throw DomainError.invalid(fieldPrefix || "price", "is required");
  }
  const at = (name: string) => fieldPath(fieldPrefix, name);
  validateId(price.providerId, at("provider_id"));
  validateModel(price.model, at("model"), { allowDefault: true });
  assertPriceMicrosPerMtok(price.inputMicrosPerMtok, at("input_micros_per_mtok"));
  assertPriceMicrosPerMtok(price.outputMicrosPerMtok, at("output_micros_per_mtok"));
  optionalPrice(price.cachedInputMicrosPerMtok, at("cached_input_micros_per_mtok"));
  optionalPrice(price.cacheWriteMicrosPerMtok, at("cache_write_micros_per_mtok"));
  if (!(price.effectiveFrom instanceof Date) || Number.isNaN(price.effectiveFrom.getTime())) {
    throw DomainError.invalid(at("effective_from"), "must be a valid timestamp");
  }
  if (assertInt64(price.version, at("version")) < 0n) {
    throw DomainError.invalid(at("version"), "must not be negative");
  }
  if (typeof price.currency !== "string" || !CURRENCY_CODE.test(price.currency)) {
    throw DomainError.invalid(at("currency"), "must be an ISO 4217 code such as USD");
  }
  if (!Array.isArray(price.tiers)) throw DomainError.invalid(at("tiers"), "must be a list");
  const seen = new Set<bigint>();
  price.tiers.forEach((tier, index) => {
    const tierAt = (name: string) => at(`tiers[${index}].${name}`);
    const above = assertTokenCount(tier?.aboveInputTokens, tierAt("above_input_tokens"));
    if (seen.has(above)) {
      throw DomainError.invalid(tierAt("above_input_tokens"), `duplicate threshold ${above}`);
    }
    seen.add(above);
    optionalPrice(tier.input, tierAt("input_micros_per_mtok"));
    optionalPrice(tier.output, tierAt("output_micros_per_mtok"));
    optionalPrice(tier.cachedInput, tierAt("cached_input_micros_per_mtok"));
    optionalPrice(tier.cacheWrite, tierAt("cache_write_micros_per_mtok"));
  });
  return price;
}

/**
 * A validated price with its tiers sorted once and every fallback resolved, so pricing a request is a short
 * scan and a few multiplications. Build one per price version (the price cache should hold these).
 */
export class CompiledPrice {
  readonly source: PriceVersion;
  /** Highest threshold first; the base level is last. */
  private readonly levels: readonly PriceLevel[];

  constructor(price: PriceVersion) {
    validatePriceVersion(price);
    this.source = price;
    const baseInput = price.inputMicrosPerMtok;
    const baseOutput = price.outputMicrosPerMtok;
    const baseCached = price.cachedInputMicrosPerMtok ?? null;
    const baseWrite = price.cacheWriteMicrosPerMtok ?? null;
    const levels: PriceLevel[] = [...price.tiers]
      .sort((a, b) => (a.aboveInputTokens > b.aboveInputTokens ? -1 : 1))
      .map((tier) => {
        // Per the formula: the tier's price of a kind where set, else the base price of that kind; only then
        // do cached and cache-write fall back to the (resolved) input price.
        const input = tier.input ?? baseInput;
        return priceLevel(
          tier.aboveInputTokens,
          tier.aboveInputTokens,
          input,
          tier.output ?? baseOutput,
          tier.cachedInput ?? baseCached ?? input,
          tier.cacheWrite ?? baseWrite ?? input,
        );
      });
    levels.push(
      priceLevel(-1n, null, baseInput, baseOutput, baseCached ?? baseInput, baseWrite ?? baseInput),
    );
    this.levels = levels;
  }

  get version(): bigint {
    return this.source.version;
  }

  /** The prices for a request with this many input tokens: the tier with the largest threshold < inputTokens. */
  pricesFor(inputTokens: Tokens): PriceLevel {
    const levels = this.levels;
    const baseIndex = levels.length - 1;
    for (let i = 0; i < baseIndex; i++) {
      const level = levels[i]!;
      if (level.appliesAbove < inputTokens) return level;
    }
    // The base level applies to every count no tier claims (including a negative one, which usage rejects).
    return levels[baseIndex]!;
  }
}

const compiledByVersion = new WeakMap<PriceVersion, CompiledPrice>();

/**
 * The compiled form of a price. A plain PriceVersion is compiled once per object and remembered (weakly), so
 * price objects must not be mutated after use: a new version is a new object (a new row) anyway.
 */
export function compilePrice(price: PriceVersion | CompiledPrice): CompiledPrice {
  if (price instanceof CompiledPrice) return price;
  let compiled = compiledByVersion.get(price);
  if (compiled === undefined) {
    compiled = new CompiledPrice(price);
    compiledByVersion.set(price, compiled);
  }
  return compiled;
}
