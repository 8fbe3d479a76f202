import {
  assertNonNegativeMicros,
  assertPositiveMicros,
  assertTokenCount,
  DomainError,
  fieldPath,
  validateId,
  validateModel,
  validateUsage,
} from "@heidrun/core";
import type { Usage } from "@heidrun/proto";

/** Text given for counting (input_text, prompt_text, messages, output_text), all fields together. */
export const MAX_COUNTING_TEXT_BYTES = 2 * 1024 * 1024;
export const MAX_BATCH_ITEMS = 1000;
export const MAX_PAGE_SIZE = 1000;
/** occurred_at may run ahead of our clock by this much (caller clock skew), no more. */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;
/** Free text stored with a mutation (reference, reason) or used as a filter (reason_contains, page_token). */
export const MAX_FREE_TEXT_CHARS = 1024;
/**
 * Ingress ceilings that keep every sum Postgres computes inside int64: 10^15 micros is 1e9 currency units
 * per credit or limit; 10^12 micros per Mtok keeps 4 × 10^12 tokens × price / 10^6 below 2^63.
 */
export const MAX_AMOUNT_MICROS = 1_000_000_000_000_000n;
export const MAX_PRICE_MICROS_PER_MTOK = 1_000_000_000_000n;

// google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z.
const MIN_TIMESTAMP_MS = -62_135_596_800_000;
const MAX_TIMESTAMP_MS = 253_402_300_799_999;

export { fieldPath };

export function requiredId(value: string, field: string): void {
  validateId(value, field);
}

/** Filters and echo-only ids: empty means "not given". */
export function optionalId(value: string, field: string): void {
  if (value !== "") validateId(value, field);
}

export function requiredModel(value: string, field: string, allowDefault: boolean): void {
  validateModel(value, field, { allowDefault });
}

export function optionalModel(value: string, field: string, allowDefault: boolean): void {
  if (value !== "") validateModel(value, field, { allowDefault });
}

export function usage(value: Usage | undefined, field: string): void {
  if (value === undefined) throw DomainError.invalid(field, "is required");
  validateUsage(value, field);
}

export function tokenCount(value: bigint, field: string): void {
  assertTokenCount(value, field);
}

export function nonNegativeAmount(value: bigint, field: string): void {
  assertNonNegativeMicros(value, field);
  if (value > MAX_AMOUNT_MICROS) throw DomainError.invalid(field, `must be at most ${MAX_AMOUNT_MICROS}`);
}

export function positiveAmount(value: bigint, field: string): void {
  assertPositiveMicros(value, field);
  if (value > MAX_AMOUNT_MICROS) throw DomainError.invalid(field, `must be at most ${MAX_AMOUNT_MICROS}`);
}

export function price(value: bigint, field: string): void {
  assertNonNegativeMicros(value, field);
  if (value > MAX_PRICE_MICROS_PER_MTOK) {
    throw DomainError.invalid(field, `must be at most ${MAX_PRICE_MICROS_PER_MTOK}`);
  }
}

export function optionalPrice(value: bigint | undefined, field: string): void {
  if (value !== undefined) price(value, field);
}

export function int32Range(value: number, field: string, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw DomainError.invalid(field, `must be between ${min} and ${max}, got ${value}`);
  }
}

export function freeText(value: string, field: string): void {
  if (value.length > MAX_FREE_TEXT_CHARS) {
    throw DomainError.invalid(
      field,
      `must be at most ${MAX_FREE_TEXT_CHARS} characters, got ${value.length}`,
    );
  }
  // PostgreSQL text cannot hold NUL: refused here, the statement would fail (INTERNAL) after the checks.
  if (value.includes("\u0000")) throw DomainError.invalid(field, "must not contain NUL characters");
}

/** An enum value this version of the contract defines (decoding keeps unknown numbers as they are). */
export function knownEnum(value: number, allowed: readonly number[], field: string): void {
  if (!allowed.includes(value)) throw DomainError.invalid(field, `unknown value ${value}`);
}

export function timestamp(value: Date | undefined, field: string): void {
  if (value === undefined) return;
  const ms = value.getTime();
  if (Number.isNaN(ms) || ms < MIN_TIMESTAMP_MS || ms > MAX_TIMESTAMP_MS) {
    throw DomainError.invalid(field, "must be a timestamp between years 1 and 9999");
  }
}

/** A `[from, to)` range: each end valid, and from not after to. */
export function timeRange(
  from: Date | undefined,
  to: Date | undefined,
  fromField: string,
  toField: string,
): void {
  timestamp(from, fromField);
  timestamp(to, toField);
  if (from !== undefined && to !== undefined && from.getTime() > to.getTime()) {
    throw DomainError.invalid(toField, `must not be before ${fromField}`);
  }
}

export function notFarFuture(value: Date | undefined, field: string, nowMs: number): void {
  timestamp(value, field);
  if (value !== undefined && value.getTime() > nowMs + MAX_FUTURE_SKEW_MS) {
    throw DomainError.invalid(field, "must not be more than 5 minutes in the future");
  }
}

/** At most one of the named alternatives may be given; the error names the second one found. */
export function atMostOne(
  given: ReadonlyArray<readonly [field: string, isSet: boolean]>,
  what: string,
): void {
  const set = given.filter(([, isSet]) => isSet).map(([field]) => field);
  if (set.length > 1) {
    throw DomainError.invalid(
      set[1]!,
      `give only one of ${given.map(([field]) => field).join(", ")} (${what})`,
    );
  }
}

/** Sums the UTF-8 size of the texts to count; names the field that crosses the 2 MiB limit. */
export class CountingTextBudget {
  #bytes = 0;

  add(text: string, field: string): void {
    if (text.length === 0) return;
    this.#bytes += Buffer.byteLength(text, "utf8");
    if (this.#bytes > MAX_COUNTING_TEXT_BYTES) {
      throw DomainError.invalid(
        field,
        `text for counting must be at most ${MAX_COUNTING_TEXT_BYTES} bytes in all, got at least ${this.#bytes}`,
      );
    }
  }
}
