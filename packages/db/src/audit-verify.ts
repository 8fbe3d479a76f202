import { DomainError } from "@heidrun/core";
import { sql } from "drizzle-orm";
import { auditHash, auditRecordText, GENESIS_HASH, RECORDED_AT_FORMAT } from "./audit-canonical";
import type { DbOrTx } from "./pool";

export interface AuditHead {
  seq: bigint;
  hash: string;
}

/** The chain head as committed: the seq and hash of the last appended event (0 and 64 zeros before any). */
export async function readAuditHead(db: DbOrTx): Promise<AuditHead> {
  const result = await db.execute(sql`SELECT seq, hash FROM audit_chain_head WHERE id = 1`);
  const row = result.rows[0] as AuditHead | undefined;
  if (!row) throw DomainError.precondition("the audit chain head row is missing: run the migrations");
  return { seq: row.seq, hash: row.hash };
}

/** A (seq, hash) pair copied out of Heidrun earlier, e.g. from `heidrun audit head`. */
export interface AuditAnchor {
  seq: bigint;
  hash: string;
}

/**
 * Compares an anchor with the trail. After a clean verify from seq 1, a match proves every event up to the
 * anchor is exactly what it was when the anchor was taken; a seq past the head means events were lost.
 */
export async function checkAuditAnchor(
  db: DbOrTx,
  anchor: AuditAnchor,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const result = await db.execute(sql`SELECT hash FROM audit_events WHERE seq = ${anchor.seq}`);
  const row = result.rows[0] as { hash: string } | undefined;
  if (!row) {
    const head = await readAuditHead(db);
    return {
      ok: false,
      reason: `anchor seq ${anchor.seq} is not in the trail (head seq ${head.seq}): events were lost since it was anchored`,
    };
  }
  if (row.hash !== anchor.hash) {
    return {
      ok: false,
      reason: `anchor mismatch at seq ${anchor.seq}: anchored hash ${anchor.hash} but the trail has ${row.hash}`,
    };
  }
  return { ok: true };
}

export interface AuditVerifyProgress {
  /** Events verified so far. */
  checked: number;
  /** The last verified seq. */
  seq: bigint;
  /** The head this run verifies up to (read when it started). */
  headSeq: bigint;
}

export interface AuditVerifyOptions {
  /** Start here instead of seq 1; the link to seq fromSeq − 1 (its stored hash) is still checked. */
  fromSeq?: bigint;
  /** Rows per query; each page is one indexed range read by seq. */
  pageSize?: number;
  onProgress?: (progress: AuditVerifyProgress) => void;
}

export type AuditVerifyResult =
  | { ok: true; headSeq: bigint; headHash: string; checked: number }
  | { ok: false; badSeq: bigint; reason: string; checked: number };

interface AuditRow {
  seq: bigint;
  event_type: string;
  request_id: string | null;
  preauth_id: string | null;
  account_id: string | null;
  provider_id: string | null;
  actor: string;
  payload: string;
  recorded_at: string;
  prev_hash: string;
  hash: string;
}

const DEFAULT_PAGE_SIZE = 5000;

/** The first problem in this row, given the hash the previous row was verified to have; undefined if none. */
function checkRow(row: AuditRow, expectedSeq: bigint, prevHash: string): string | undefined {
  if (row.seq !== expectedSeq) return `gap: seq ${expectedSeq} is missing (the next row is seq ${row.seq})`;
  if (row.prev_hash !== prevHash) {
    return `prev_hash mismatch: seq ${row.seq} stores prev_hash ${row.prev_hash} but the hash of seq ${row.seq - 1n} is ${prevHash}`;
  }
  const recomputed = auditHash(
    prevHash,
    auditRecordText({
      seq: row.seq,
      type: row.event_type,
      requestId: row.request_id,
      preauthId: row.preauth_id,
      accountId: row.account_id,
      providerId: row.provider_id,
      actor: row.actor,
      payload: row.payload,
      recordedAt: row.recorded_at,
    }),
  );
  if (recomputed !== row.hash) {
    return `hash mismatch: seq ${row.seq} stores hash ${row.hash} but its contents hash to ${recomputed}`;
  }
  return undefined;
}

/**
 * Recomputes the chain from fromSeq (default 1) up to the head as it was when the run started, one page of
 * rows per query, and checks that it ends exactly at the head's seq and hash. Reports the first break only.
 * Rows appended while it runs are left for the next run.
 */
export async function verifyAuditChain(
  db: DbOrTx,
  options: AuditVerifyOptions = {},
): Promise<AuditVerifyResult> {
  const fromSeq = options.fromSeq ?? 1n;
  if (fromSeq < 1n) throw DomainError.invalid("fromSeq", "must be at least 1");
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const head = await readAuditHead(db);
  if (fromSeq > head.seq) return { ok: true, headSeq: head.seq, headHash: head.hash, checked: 0 };

  let prevHash = GENESIS_HASH;
  if (fromSeq > 1n) {
    const anchor = await db.execute(sql`SELECT hash FROM audit_events WHERE seq = ${fromSeq - 1n}`);
    const anchorRow = anchor.rows[0] as { hash: string } | undefined;
    if (!anchorRow)
      return { ok: false, badSeq: fromSeq - 1n, reason: `gap: seq ${fromSeq - 1n} is missing`, checked: 0 };
    prevHash = anchorRow.hash;
  }

  const format = sql.raw(RECORDED_AT_FORMAT);
  let expectedSeq = fromSeq;
  let checked = 0;
  while (expectedSeq <= head.seq) {
    const page = await db.execute(sql`
      SELECT seq, event_type, request_id, preauth_id, account_id, provider_id, actor, payload,
        to_char(recorded_at AT TIME ZONE 'UTC', ${format}) AS recorded_at, prev_hash, hash
      FROM audit_events
      WHERE seq >= ${expectedSeq} AND seq <= ${head.seq}
      ORDER BY seq
      LIMIT ${pageSize}`);
    const rows = page.rows as unknown as AuditRow[];
    if (rows.length === 0) break;
    for (const row of rows) {
      const problem = checkRow(row, expectedSeq, prevHash);
      if (problem) return { ok: false, badSeq: expectedSeq, reason: problem, checked };
      prevHash = row.hash;
      expectedSeq += 1n;
      checked += 1;
    }
    options.onProgress?.({ checked, seq: expectedSeq - 1n, headSeq: head.seq });
  }

  if (expectedSeq <= head.seq) {
    return {
      ok: false,
      badSeq: expectedSeq,
      reason: `gap: the head is at seq ${head.seq} but the chain ends at seq ${expectedSeq - 1n}`,
      checked,
    };
  }
  if (prevHash !== head.hash) {
    return {
      ok: false,
      badSeq: head.seq,
      reason: `head mismatch: the head stores hash ${head.hash} for seq ${head.seq} but the chain ends with ${prevHash}`,
      checked,
    };
  }
  return { ok: true, headSeq: head.seq, headHash: head.hash, checked };
}
