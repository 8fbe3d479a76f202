import { createHash } from "node:crypto";
import { DomainError } from "@heidrun/core";

/** The prev_hash of seq 1. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * The text form of recorded_at inside the hashed record. Fixed format and zone, so the hash does not depend on
 * the session's DateStyle or TimeZone; append and verify both format the stored timestamptz with it.
 */
export const RECORDED_AT_FORMAT = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

function fail(path: string, reason: string): never {
  throw DomainError.invalid(path, reason);
}

/** With the u flag a well-formed pair is one code point, so this matches lone surrogates only. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function canonicalString(value: string, path: string): string {
  // A lone surrogate would reach Postgres as U+FFFD, so the stored text would no longer hash to what was hashed.
  if (LONE_SURROGATE.test(value)) fail(path, "contains a lone UTF-16 surrogate");
  return JSON.stringify(value);
}

/**
 * JSON with object keys sorted by UTF-16 code units and no whitespace. A bigint becomes its exact decimal
 * string; a number must be a safe integer (amounts are bigints, so a fraction here is a bug); undefined
 * properties are left out as JSON.stringify does.
 */
export function canonicalJson(value: unknown, path = "data"): string {
  switch (typeof value) {
    case "string":
      return canonicalString(value, path);
    case "bigint":
      return `"${value.toString()}"`;
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isSafeInteger(value)) fail(path, `${value} is not a safe integer (use bigint)`);
      return String(value);
    case "object": {
      if (value === null) return "null";
      if (value instanceof Date) return canonicalString(value.toISOString(), path);
      if (Array.isArray(value)) {
        return `[${value.map((item, index) => (item === undefined ? "null" : canonicalJson(item, `${path}[${index}]`))).join(",")}]`;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) fail(path, "is not a plain object");
      const entries = Object.keys(value)
        .sort()
        .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
        .map(
          (key) =>
            `${canonicalString(key, path)}:${canonicalJson((value as Record<string, unknown>)[key], `${path}.${key}`)}`,
        );
      return `{${entries.join(",")}}`;
    }
    default:
      return fail(path, `a ${typeof value} cannot be recorded`);
  }
}

/** What an audit record says, apart from the parts the database supplies (seq and recorded_at). */
export interface AuditRecordFields {
  type: string;
  requestId: string | null;
  preauthId: string | null;
  accountId: string | null;
  providerId: string | null;
  actor: string;
}

/**
 * The canonical record text around its three inserted values: `parts[0] + payload + parts[1] + recordedAt +
 * parts[2] + seq + parts[3]` is canonicalJson({account_id, actor, data, preauth_id, provider_id, recorded_at,
 * request_id, seq, type}) with data = the payload (already canonical) and seq as a decimal string. Split this
 * way so Postgres can finish the record once it holds the chain head, without re-serializing anything.
 */
export function auditRecordParts(fields: AuditRecordFields): [string, string, string, string] {
  const text = (value: string | null, name: string) =>
    value === null ? "null" : canonicalString(value, name);
  return [
    `{"account_id":${text(fields.accountId, "accountId")},"actor":${text(fields.actor, "actor")},"data":`,
    `,"preauth_id":${text(fields.preauthId, "preauthId")},"provider_id":${text(fields.providerId, "providerId")},"recorded_at":"`,
    `","request_id":${text(fields.requestId, "requestId")},"seq":"`,
    `","type":${text(fields.type, "type")}}`,
  ];
}

export interface StoredAuditRecord extends AuditRecordFields {
  seq: bigint;
  payload: string;
  /** recorded_at formatted with RECORDED_AT_FORMAT. */
  recordedAt: string;
}

export function auditRecordText(record: StoredAuditRecord): string {
  const parts = auditRecordParts(record);
  return `${parts[0]}${record.payload}${parts[1]}${record.recordedAt}${parts[2]}${record.seq}${parts[3]}`;
}

/** hash = sha256(prev_hash ‖ canonical record), hex; the same formula the append statement evaluates in SQL. */
export function auditHash(prevHash: string, recordText: string): string {
  return createHash("sha256").update(prevHash, "utf8").update(recordText, "utf8").digest("hex");
}
