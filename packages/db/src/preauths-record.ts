import { createHash, randomBytes } from "node:crypto";
import { type ReplayValue, requestFingerprint } from "@heidrun/core";
import { type SQL, sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";
import type { PreauthStatus } from "./schema";

/** A pre-auth row as the services read it. */
export interface PreauthRecord {
  preauthId: string;
  requestId: string;
  fingerprint: string;
  accountId: string;
  providerId: string;
  model: string;
  status: PreauthStatus;
  declineReason: "insufficient_funds" | "unknown_account" | null;
  heldMicros: bigint;
  estimatedCostMicros: bigint;
  availableMicros: bigint;
  priceVersionId: bigint | null;
  priceVersion: bigint;
  createdAt: Date;
  expiresAt: Date;
  captureRequestId: string | null;
  captureFingerprint: string | null;
  capturedCostMicros: bigint | null;
  cancelRequestId: string | null;
  cancelFingerprint: string | null;
  releasedMicros: bigint | null;
}

/** The outcome of a mutating call: `replayed` when the request_id was applied before and this is its first answer. */
export interface PreauthOutcome {
  preauth: PreauthRecord;
  replayed: boolean;
}

const RECORD_COLUMNS: Record<keyof PreauthRecord, string> = {
  preauthId: "preauth_id",
  requestId: "request_id",
  fingerprint: "fingerprint",
  accountId: "account_id",
  providerId: "provider_id",
  model: "model",
  status: "status",
  declineReason: "decline_reason",
  heldMicros: "held_micros",
  estimatedCostMicros: "estimated_cost_micros",
  availableMicros: "available_micros",
  priceVersionId: "price_version_id",
  priceVersion: "price_version",
  createdAt: "created_at",
  expiresAt: "expires_at",
  captureRequestId: "capture_request_id",
  captureFingerprint: "capture_fingerprint",
  capturedCostMicros: "captured_cost_micros",
  cancelRequestId: "cancel_request_id",
  cancelFingerprint: "cancel_fingerprint",
  releasedMicros: "released_micros",
};

const TIMESTAMPS: ReadonlySet<string> = new Set(["created_at", "expires_at"]);

/**
 * The record's columns of table alias `from`, named as PreauthRecord's fields. Timestamps travel as ISO text
 * (raw statements bypass drizzle's column mapping); the columns have millisecond precision, so nothing is lost.
 */
export function columnsOf(from: string): SQL {
  const list = Object.entries(RECORD_COLUMNS).map(([field, column]) =>
    TIMESTAMPS.has(column)
      ? `to_char(${from}.${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "${field}"`
      : `${from}.${column} AS "${field}"`,
  );
  return sql.raw(list.join(", "));
}
export const columns = columnsOf("preauths");

/** A row as a raw statement returns it: the record's fields (timestamps as text) and maybe a few more. */
export type Row = Omit<PreauthRecord, "createdAt" | "expiresAt"> & {
  createdAt: string;
  expiresAt: string;
} & Record<string, unknown>;

export function recordOf(row: Row): PreauthRecord {
  const record = {} as Record<string, unknown>;
  for (const field of Object.keys(RECORD_COLUMNS)) record[field] = row[field];
  record.createdAt = new Date(row.createdAt);
  record.expiresAt = new Date(row.expiresAt);
  return record as unknown as PreauthRecord;
}

/** A fresh, unguessable id: `pa_` + 128 random bits in hex. Never derived from the request id. */
export function newPreauthId(): string {
  return `pa_${randomBytes(16).toString("hex")}`;
}

/** The stored idempotency fingerprint: sha256 of the canonical arguments (a prompt may be megabytes). */
export function hashedFingerprint(args: ReplayValue): string {
  return createHash("sha256").update(requestFingerprint(args)).digest("hex");
}

export async function getPreauth(db: DbOrTx, preauthId: string): Promise<PreauthRecord | undefined> {
  const result = await db.execute<Row>(sql`SELECT ${columns} FROM preauths WHERE preauth_id = ${preauthId}`);
  const row = result.rows[0];
  return row && recordOf(row);
}
