import { DomainError } from "./errors";

/** An amount in micros of the deployment currency (1 USD = 1,000,000 micros). Signed: ledger entries can be negative. */
export type Micros = bigint;
/** A token count, 0 ≤ n ≤ 10^12. */
export type Tokens = bigint;
/** A price in micros per 1,000,000 tokens, as provider price pages print it ($0.15 per 1M tokens = 150000n). */
export type MicrosPerMtok = bigint;

export const MICROS_PER_UNIT = 1_000_000n;
export const TOKENS_PER_MTOK = 1_000_000n;
export const MAX_TOKENS = 1_000_000_000_000n;
export const INT64_MAX = 9_223_372_036_854_775_807n;
export const INT64_MIN = -9_223_372_036_854_775_808n;

// Longest decimal int64 is "-9223372036854775808" (20 chars); checking length first keeps BigInt() off huge strings.
const MAX_INT64_TEXT_LENGTH = 20;
const SIGNED_DECIMAL = /^-?(?:0|[1-9][0-9]*)$/;
const UNSIGNED_DECIMAL = /^(?:0|[1-9][0-9]*)$/;
// Up to six fractional digits: anything finer than a micro cannot be represented and must not be silently dropped.
const DECIMAL_UNITS = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]{1,6}))?$/;

export function isInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}

function describeType(value: unknown): string {
  return value === null ? "null" : typeof value;
}

/** Throws unless `value` is a bigint within int64; returns it for chaining. */
export function assertInt64(value: unknown, field: string): bigint {
  if (typeof value !== "bigint") {
    throw DomainError.invalid(field, `must be an integer, got ${describeType(value)}`);
  }
  if (value < INT64_MIN || value > INT64_MAX) throw DomainError.invalid(field, "is outside the int64 range");
  return value;
}

/** An amount that may not be negative (a cost, a credit, a limit). */
export function assertNonNegativeMicros(value: unknown, field: string): Micros {
  const micros = assertInt64(value, field);
  if (micros < 0n) throw DomainError.invalid(field, `must not be negative, got ${micros}`);
  return micros;
}

/** An amount that must be above zero (CreditAccount.amount_micros). */
export function assertPositiveMicros(value: unknown, field: string): Micros {
  const micros = assertInt64(value, field);
  if (micros <= 0n) throw DomainError.invalid(field, `must be greater than 0, got ${micros}`);
  return micros;
}

export function assertTokenCount(value: unknown, field: string): Tokens {
  if (typeof value !== "bigint") {
    throw DomainError.invalid(field, `must be an integer, got ${describeType(value)}`);
  }
  if (value < 0n || value > MAX_TOKENS) {
    throw DomainError.invalid(field, `must be between 0 and 1000000000000 tokens, got ${value}`);
  }
  return value;
}

export function assertPriceMicrosPerMtok(value: unknown, field: string): MicrosPerMtok {
  return assertNonNegativeMicros(value, field);
}

/**
 * Parses a canonical decimal integer string ("0", "150000", "-42") as int64 micros. Canonical means what
 * bigint.toString() produces, so job payloads round-trip exactly and nothing ambiguous ("+1", "01", "1e3",
 * " 1", "1.0", "-0") is accepted.
 */
export function parseMicros(text: unknown, field: string): Micros {
  if (typeof text !== "string") {
    throw DomainError.invalid(field, `must be a decimal string, got ${describeType(text)}`);
  }
  if (text.length > MAX_INT64_TEXT_LENGTH || !SIGNED_DECIMAL.test(text) || text === "-0") {
    throw DomainError.invalid(field, `must be a decimal integer of micros, got "${text.slice(0, 40)}"`);
  }
  return assertInt64(BigInt(text), field);
}

/** Parses a canonical non-negative decimal integer string as a token count (0 ≤ n ≤ 10^12). */
export function parseTokens(text: unknown, field: string): Tokens {
  if (typeof text !== "string") {
    throw DomainError.invalid(field, `must be a decimal string, got ${describeType(text)}`);
  }
  if (text.length > MAX_INT64_TEXT_LENGTH || !UNSIGNED_DECIMAL.test(text)) {
    throw DomainError.invalid(field, `must be a decimal integer token count, got "${text.slice(0, 40)}"`);
  }
  return assertTokenCount(BigInt(text), field);
}

/**
 * Parses currency units as written on price pages and in config ("0.15", "3", "22.50", "$0.075") into micros,
 * exactly: at most six fractional digits, no exponent, no rounding.
 */
export function parseUnitsAsMicros(text: unknown, field: string): Micros {
  if (typeof text !== "string") {
    throw DomainError.invalid(field, `must be a decimal string, got ${describeType(text)}`);
  }
  const unsigned = text.startsWith("$") ? text.slice(1) : text.startsWith("-$") ? `-${text.slice(2)}` : text;
  const match = unsigned.length <= 40 ? DECIMAL_UNITS.exec(unsigned) : null;
  if (match === null) {
    throw DomainError.invalid(
      field,
      `must be a decimal amount with at most 6 decimals, got "${text.slice(0, 40)}"`,
    );
  }
  const [, sign = "", whole = "0", fraction = ""] = match;
  const magnitude = BigInt(whole) * MICROS_PER_UNIT + BigInt(fraction.padEnd(6, "0"));
  if (sign === "-" && magnitude === 0n) {
    throw DomainError.invalid(field, `must not be negative zero, got "${text}"`);
  }
  return assertInt64(sign === "-" ? -magnitude : magnitude, field);
}

/**
 * Formats micros as a decimal number of currency units: at least 2 decimals, more only where they are not
 * zero (75n → "0.000075", 10_000n → "0.01", 1_500_000n → "1.50").
 */
export function formatMicrosAsDecimal(micros: Micros): string {
  const negative = micros < 0n;
  const magnitude = negative ? -micros : micros;
  const whole = magnitude / MICROS_PER_UNIT;
  let fraction = (magnitude % MICROS_PER_UNIT).toString().padStart(6, "0");
  while (fraction.length > 2 && fraction.endsWith("0")) fraction = fraction.slice(0, -1);
  return `${negative ? "-" : ""}${whole}.${fraction}`;
}

/** 75n → "$0.000075"; -10_000n → "-$0.01". For humans (docs, CLI, dashboard), never for storage. */
export function formatMicrosAsUsd(micros: Micros): string {
  const text = formatMicrosAsDecimal(micros);
  return text.startsWith("-") ? `-$${text.slice(1)}` : `$${text}`;
}
