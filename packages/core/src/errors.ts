/**
 * The one error type that crosses package boundaries. Codes are the domain's words for the outcomes the
 * contract distinguishes; the ingress maps them to gRPC statuses and nothing else crosses the edge.
 */
export const DOMAIN_ERROR_CODES = [
  "INVALID_ARGUMENT",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "FAILED_PRECONDITION",
  "UNAVAILABLE",
  "RESOURCE_EXHAUSTED",
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "UNIMPLEMENTED",
  "INTERNAL",
] as const;

export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

/** Codes where repeating the same call (same request_id) may succeed later. */
const RETRYABLE_BY_DEFAULT: ReadonlySet<DomainErrorCode> = new Set(["UNAVAILABLE", "RESOURCE_EXHAUSTED"]);

export interface DomainErrorOptions {
  /** Field path in the request, e.g. `usage.cached_input_tokens` or `items[3].account_id`. */
  field?: string;
  retryable?: boolean;
  cause?: unknown;
}

export class DomainError extends Error {
  override readonly name = "DomainError";
  readonly code: DomainErrorCode;
  readonly field: string | undefined;
  readonly retryable: boolean;

  constructor(code: DomainErrorCode, message: string, options: DomainErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
  }

  static invalid(field: string, reason: string): DomainError {
    return new DomainError("INVALID_ARGUMENT", `${field}: ${reason}`, { field });
  }

  static notFound(message: string): DomainError {
    return new DomainError("NOT_FOUND", message);
  }

  static conflict(message: string): DomainError {
    return new DomainError("ALREADY_EXISTS", message);
  }

  static precondition(message: string): DomainError {
    return new DomainError("FAILED_PRECONDITION", message);
  }

  static unavailable(message: string, cause?: unknown): DomainError {
    return new DomainError("UNAVAILABLE", message, { cause });
  }
}

export function isDomainError(value: unknown): value is DomainError {
  return value instanceof DomainError;
}
