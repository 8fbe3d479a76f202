import { DomainError } from "./errors";

/** What a request's arguments may contain, as the idempotency layer sees them. */
export type ReplayValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | Date
  | readonly ReplayValue[]
  | { readonly [key: string]: ReplayValue };

function encode(value: ReplayValue): string {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "bigint":
      // Tagged so 5n and 5 and "5" stay distinct arguments.
      return `${value}n`;
    case "string":
    case "number":
    case "boolean":
      return JSON.stringify(value);
  }
  if (value instanceof Date) return `D${JSON.stringify(value.toISOString())}`;
  if (Array.isArray(value)) return `[${value.map((item: ReplayValue) => encode(item)).join(",")}]`;
  const record = value as { readonly [key: string]: ReplayValue };
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    // An unset optional and an absent one are the same request.
    if (item !== undefined) parts.push(`${JSON.stringify(key)}:${encode(item)}`);
  }
  return `{${parts.join(",")}}`;
}

/**
 * A canonical text of a request's arguments: key order does not matter, bigints keep every digit. Store it (or
 * a hash of it) with the request_id; a repeat is a replay only if its fingerprint is the same.
 */
export function requestFingerprint(args: ReplayValue): string {
  return encode(args);
}

/** Whether a repeated request_id carries the same arguments as the first call, so the first answer applies. */
export function isIdenticalReplay(first: ReplayValue, repeat: ReplayValue): boolean {
  return encode(first) === encode(repeat);
}

/** The contract's rule for a known request_id: same arguments → replay the first answer; different → ALREADY_EXISTS. */
export function assertIdenticalReplay(requestId: string, first: ReplayValue, repeat: ReplayValue): void {
  if (!isIdenticalReplay(first, repeat)) {
    throw DomainError.conflict(`request_id ${requestId} was already used with different arguments`);
  }
}
