import { DomainError } from "@heidrun/core";
import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { QueryResult } from "pg";
import { auditRecordParts, canonicalJson, RECORDED_AT_FORMAT } from "./audit-canonical";
import type { DbOrTx } from "./pool";

export * from "./audit-canonical";
export * from "./audit-head-logger";
export * from "./audit-verify";

export const AUDIT_EVENT_TYPES = [
  "price.set",
  "account.credited",
  "account.credit_limit_set",
  "preauth.authorized",
  "preauth.declined",
  "preauth.cancelled",
  "preauth.expired",
  "preauth.capture_requested",
  "usage.recorded",
  "settlement.settled",
  "settlement.failed",
  "settlement.rerun_requested",
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

const KNOWN_TYPES: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);

export interface AuditEventInput {
  type: AuditEventType;
  requestId?: string | null;
  preauthId?: string | null;
  accountId?: string | null;
  providerId?: string | null;
  /** Who caused the change: an API key id, `worker`, `cli:<user>`, … */
  actor: string;
  /** Amounts and details; bigints are recorded as exact decimal strings. */
  data: Record<string, unknown>;
}

export interface AuditAppendResult {
  /** How many events were written; 0 for an empty batch, which writes nothing (and the seqs are 0n). */
  count: number;
  firstSeq: bigint;
  lastSeq: bigint;
  /** The chain head after this batch: the hash of lastSeq. */
  hash: string;
}

const dialect = new PgDialect();
/** Versioned: a connection keeps the text it prepared under this name until it closes. */
const APPEND_STATEMENT = "heidrun_audit_append_v1";

/** One element of the statement's jsonb batch; the indexes below are positions in this tuple. */
type BatchRow = [
  string,
  string | null,
  string | null,
  string | null,
  string | null,
  string,
  string,
  ...string[],
];

function toBatchRow(event: AuditEventInput, index: number): BatchRow {
  const at = `events[${index}]`;
  if (!KNOWN_TYPES.has(event.type))
    throw DomainError.invalid(`${at}.type`, `unknown audit event type ${event.type}`);
  if (!event.actor) throw DomainError.invalid(`${at}.actor`, "is required");
  const fields = {
    type: event.type,
    requestId: event.requestId ?? null,
    preauthId: event.preauthId ?? null,
    accountId: event.accountId ?? null,
    providerId: event.providerId ?? null,
    actor: event.actor,
  };
  const payload = canonicalJson(event.data, `${at}.data`);
  return [
    fields.type,
    fields.requestId,
    fields.preauthId,
    fields.accountId,
    fields.providerId,
    fields.actor,
    payload,
    ...auditRecordParts(fields),
  ];
}

/**
 * Appends events to the hash chain in ONE statement: it locks the chain head, stamps the batch with the
 * database clock, computes every hash in Postgres (sha256 of prev_hash ‖ canonical record), inserts the rows
 * and moves the head.
 *
 * Call it inside the transaction that makes the change, as its LAST statement before COMMIT: the head row
 * stays locked until the transaction ends, so every other appender waits for this commit (or rollback).
 * Runs under READ COMMITTED; at REPEATABLE READ or above a concurrent append fails with 40001.
 */
export async function appendAudit(
  tx: DbOrTx,
  events: readonly AuditEventInput[],
): Promise<AuditAppendResult> {
  if (events.length === 0) return { count: 0, firstSeq: 0n, lastSeq: 0n, hash: "" };
  const batch = JSON.stringify(events.map(toBatchRow));
  const format = sql.raw(RECORDED_AT_FORMAT);
  // The jsonb batch is one parameter read by position, so each hash step is O(1) (a text[] subscript is O(n)).
  const query = dialect.sqlToQuery(sql`
    WITH RECURSIVE
    batch AS (SELECT ${batch}::jsonb AS events),
    locked AS (SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE),
    -- Read after the lock is granted, so recorded_at rises with seq.
    stamped AS (
      SELECT seq, hash, at, to_char(at AT TIME ZONE 'UTC', ${format}) AS at_text
      FROM (SELECT seq, hash, clock_timestamp() AS at FROM locked) head
    ),
    chain AS (
      SELECT 0 AS ord, s.seq, NULL::text AS prev_hash, s.hash, NULL::jsonb AS e FROM stamped s
      UNION ALL
      SELECT c.ord + 1, c.seq + 1, c.hash,
        encode(sha256(convert_to(
          c.hash || (x.e ->> 7) || (x.e ->> 6) || (x.e ->> 8) || s.at_text || (x.e ->> 9) || (c.seq + 1)::text || (x.e ->> 10),
          'UTF8')), 'hex'),
        x.e
      FROM chain c
      CROSS JOIN stamped s
      CROSS JOIN batch b
      CROSS JOIN LATERAL (SELECT b.events -> c.ord AS e) x
      WHERE c.ord < jsonb_array_length(b.events)
    ),
    inserted AS (
      INSERT INTO audit_events
        (seq, event_type, request_id, preauth_id, account_id, provider_id, actor, payload, recorded_at, prev_hash, hash)
      SELECT c.seq, c.e ->> 0, c.e ->> 1, c.e ->> 2, c.e ->> 3, c.e ->> 4, c.e ->> 5, c.e ->> 6, s.at, c.prev_hash, c.hash
      FROM chain c CROSS JOIN stamped s
      WHERE c.ord > 0
      RETURNING 1
    ),
    moved AS (
      UPDATE audit_chain_head h SET seq = last.seq, hash = last.hash, updated_at = last.at
      FROM (SELECT c.seq, c.hash, s.at FROM chain c CROSS JOIN stamped s ORDER BY c.ord DESC LIMIT 1) last
      WHERE h.id = 1
      RETURNING h.seq, h.hash
    )
    SELECT (SELECT seq + 1 FROM stamped) AS first_seq, m.seq AS last_seq, m.hash,
      (SELECT count(*)::int FROM inserted) AS inserted
    FROM moved m`);
  // Named, so each connection parses and plans it once: that is about a third of the append's cost.
  const prepared = tx._.session.prepareQuery(query, undefined, APPEND_STATEMENT, false);
  const result = (await prepared.execute()) as QueryResult;
  const row = result.rows[0] as
    | { first_seq: bigint; last_seq: bigint; hash: string; inserted: number }
    | undefined;
  if (!row) throw DomainError.precondition("the audit chain head row is missing: run the migrations");
  if (row.inserted !== events.length) {
    throw new DomainError("INTERNAL", `audit append wrote ${row.inserted} of ${events.length} events`);
  }
  return { count: events.length, firstSeq: row.first_seq, lastSeq: row.last_seq, hash: row.hash };
}
