import { DomainError } from "./errors";

export const MAX_ID_LENGTH = 128;
export const MAX_MODEL_LENGTH = 256;
/** The model name that stands for a provider's default price. */
export const DEFAULT_MODEL = "*";

const ID_CHARACTERS = /^[A-Za-z0-9._:-]+$/;
const MODEL_CHARACTERS = /^[A-Za-z0-9._:/@+-]+$/;

/**
 * request_id, account_id, provider_id, preauth_id: 1–128 characters of [A-Za-z0-9._:-]. The narrow alphabet
 * keeps ids safe in Redis keys, log lines and BullMQ job ids without escaping.
 */
export function validateId(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0) throw DomainError.invalid(field, "is required");
  if (value.length > MAX_ID_LENGTH) {
    throw DomainError.invalid(field, `must be at most ${MAX_ID_LENGTH} characters, got ${value.length}`);
  }
  if (!ID_CHARACTERS.test(value)) {
    throw DomainError.invalid(field, "may only contain letters, digits and . _ : -");
  }
  return value;
}

export interface ValidateModelOptions {
  /** Whether "*" (the provider's default price) is acceptable here: yes for prices, no for usage. */
  allowDefault: boolean;
}

/** model: 1–256 characters of [A-Za-z0-9._:/@+-], e.g. gpt-4o-mini, meta-llama/Llama-3.1-8B-Instruct, ft:gpt-4o:acme:v2. */
export function validateModel(value: unknown, field: string, options: ValidateModelOptions): string {
  if (typeof value !== "string" || value.length === 0) throw DomainError.invalid(field, "is required");
  if (value === DEFAULT_MODEL) {
    if (options.allowDefault) return value;
    throw DomainError.invalid(field, `"*" is only allowed for a provider's default price`);
  }
  if (value.length > MAX_MODEL_LENGTH) {
    throw DomainError.invalid(field, `must be at most ${MAX_MODEL_LENGTH} characters, got ${value.length}`);
  }
  if (!MODEL_CHARACTERS.test(value)) {
    throw DomainError.invalid(field, "may only contain letters, digits and . _ : / @ + -");
  }
  return value;
}
