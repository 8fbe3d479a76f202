import { applyPreAuthAction, DomainError, type Usage } from "@heidrun/core";
import { type SQL, sql } from "drizzle-orm";
import { isUniqueViolation, requestConflict } from "./accounts";
import { appendAudit } from "./audit";
import type { Db, DbOrTx } from "./pool";
import {
  columnsOf,
  hashedFingerprint,
  type PreauthOutcome,
  type PreauthRecord,
  type Row,
  recordOf,
} from "./preauths-record";
import type { PreauthStatus } from "./schema";

interface TerminalMove {
  action: "capture" | "cancel";
  requestId: string;
  preauthId: string;
  fingerprint: string;
  /** Which columns hold this action's request id and fingerprint. */
  requestIdColumn: "capture_request_id" | "cancel_request_id";
  /** Statuses the move may leave from. */
  from: readonly PreauthStatus[];
  /** The SET list for the moved row; `t` is the locked row before the move. */
  set: SQL;
  /** What the moved row holds afterwards; accounts.held moves by the difference from what it held before. */
  heldAfter: SQL;
}

/**
 * A terminal move under the pre-auth's row lock: a conditional UPDATE … WHERE status IN (from), moving
 * accounts.held by what the row holds afterwards minus what it held before. Returns the moved row, or the
 * locked row as it was (unmoved).
 */
async function moveLocked(
  tx: DbOrTx,
  move: TerminalMove,
): Promise<{ row: PreauthRecord; moved: boolean } | undefined> {
  const from = sql.join(
    move.from.map((status) => sql`${status}`),
    sql`, `,
  );
  const result = await tx.execute<Row & { moved: boolean; heldChange: bigint }>(sql`
    WITH target AS (
      SELECT * FROM preauths WHERE preauth_id = ${move.preauthId} FOR UPDATE
    ),
    moved AS (
      UPDATE preauths p SET ${move.set}, held_micros = ${move.heldAfter}
      FROM target t
      WHERE p.preauth_id = t.preauth_id AND t.status IN (${from})
      RETURNING ${columnsOf("p")}, p.held_micros - t.held_micros AS "heldChange"
    ),
    held AS (
      UPDATE accounts a SET held_micros = a.held_micros + m."heldChange", updated_at = now()
      FROM moved m WHERE a.account_id = m."accountId" AND m."heldChange" <> 0
    )
    SELECT true AS moved, * FROM moved
    UNION ALL
    SELECT false AS moved, ${columnsOf("target")}, 0::bigint AS "heldChange" FROM target
    WHERE NOT EXISTS (SELECT 1 FROM moved)`);
  const row = result.rows[0];
  if (!row) return undefined;
  return { row: recordOf(row), moved: row.moved };
}

/** The first answer of a repeated capture/cancel request id, or the refusal the row's status calls for. */
function settleUnmoved(move: TerminalMove, row: PreauthRecord): PreauthOutcome {
  const previous = move.action === "capture" ? row.captureRequestId : row.cancelRequestId;
  if (previous === move.requestId) {
    const stored = move.action === "capture" ? row.captureFingerprint : row.cancelFingerprint;
    if (stored !== move.fingerprint) throw requestConflict(move.requestId);
    return { preauth: row, replayed: true };
  }
  applyPreAuthAction(move.action, row.status); // throws FAILED_PRECONDITION naming the state
  throw new DomainError(
    "INTERNAL",
    `pre-authorization ${row.preauthId} could not ${move.action} from ${row.status}`,
  );
}

async function terminalMove(
  db: Db,
  move: TerminalMove,
  audit: (row: PreauthRecord) => Parameters<typeof appendAudit>[1][number],
): Promise<PreauthOutcome> {
  try {
    return await db.transaction(async (tx) => {
      const locked = await moveLocked(tx, move);
      if (!locked) throw DomainError.notFound(`pre-authorization ${move.preauthId} not found`);
      if (!locked.moved) return settleUnmoved(move, locked.row);
      await appendAudit(tx, [audit(locked.row)]);
      return { preauth: locked.row, replayed: false };
    });
  } catch (error) {
    // The request id already names the capture/cancel of ANOTHER pre-auth (a repeat for this one replays above).
    if (isUniqueViolation(error, `preauths_${move.requestIdColumn}_key`))
      throw requestConflict(move.requestId);
    throw error;
  }
}

export interface CancelHoldInput {
  requestId: string;
  preauthId: string;
  reason: string;
  actor: string;
}

export function cancelFingerprint(input: Pick<CancelHoldInput, "preauthId" | "reason">): string {
  return hashedFingerprint({ preauthId: input.preauthId, reason: input.reason });
}

/**
 * CancelPreAuth: pending → cancelled, the hold back to available. A repeat of the same request id replays;
 * captured, expired (its hold is already released), declined or cancelled by another request id:
 * FAILED_PRECONDITION; unknown: NOT_FOUND.
 */
export async function cancelHold(db: Db, input: CancelHoldInput): Promise<PreauthOutcome> {
  const fingerprint = cancelFingerprint(input);
  return terminalMove(
    db,
    {
      action: "cancel",
      requestId: input.requestId,
      preauthId: input.preauthId,
      fingerprint,
      requestIdColumn: "cancel_request_id",
      from: ["pending"],
      set: sql`status = 'cancelled', released_micros = t.held_micros, cancel_request_id = ${input.requestId},
        cancel_fingerprint = ${fingerprint}, cancel_reason = ${input.reason}, cancelled_at = now()`,
      heldAfter: sql`0`,
    },
    (row) => ({
      type: "preauth.cancelled",
      requestId: input.requestId,
      preauthId: row.preauthId,
      accountId: row.accountId,
      providerId: row.providerId,
      actor: input.actor,
      data: { reason: input.reason, releasedMicros: row.releasedMicros, preauthRequestId: row.requestId },
    }),
  );
}

export interface CaptureHoldInput {
  requestId: string;
  preauthId: string;
  usage: Usage;
  /** The usage priced with the pinned version. */
  capturedCostMicros: bigint;
  actor: string;
}

export function captureFingerprint(input: Pick<CaptureHoldInput, "preauthId" | "usage">): string {
  const { usage } = input;
  return hashedFingerprint({
    preauthId: input.preauthId,
    usage: {
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cachedInputTokens: usage.cachedInputTokens,
      cacheWriteTokens: usage.cacheWriteTokens,
    },
  });
}

/**
 * CapturePreAuth's durable record: pending or expired → captured with the usage and its cost. The hold
 * becomes the cost (held again after an expiry, and above the estimate when the usage cost more), so until
 * the settlement worker charges it and releases it in the same transaction, `available` already counts the
 * money as spent. released_micros is the part of the hold the cost did not need: max(hold − cost, 0); 0 after
 * expiry. Cancelled, declined, or captured under another request id: FAILED_PRECONDITION.
 */
export async function captureHold(db: Db, input: CaptureHoldInput): Promise<PreauthOutcome> {
  const fingerprint = captureFingerprint(input);
  const { usage } = input;
  const cost = input.capturedCostMicros;
  return terminalMove(
    db,
    {
      action: "capture",
      requestId: input.requestId,
      preauthId: input.preauthId,
      fingerprint,
      requestIdColumn: "capture_request_id",
      from: ["pending", "expired"],
      set: sql`status = 'captured', released_micros = greatest(t.held_micros - ${cost}::bigint, 0),
        capture_request_id = ${input.requestId}, capture_fingerprint = ${fingerprint},
        captured_input_tokens = ${usage.inputTokens}::bigint, captured_output_tokens = ${usage.outputTokens}::bigint,
        captured_cached_input_tokens = ${usage.cachedInputTokens}::bigint,
        captured_cache_write_tokens = ${usage.cacheWriteTokens}::bigint,
        captured_cost_micros = ${cost}::bigint, captured_at = now()`,
      heldAfter: sql`${cost}::bigint`,
    },
    (row) => ({
      type: "preauth.capture_requested",
      requestId: input.requestId,
      preauthId: row.preauthId,
      accountId: row.accountId,
      providerId: row.providerId,
      actor: input.actor,
      data: {
        model: row.model,
        usage: { ...usage },
        capturedCostMicros: cost,
        releasedMicros: row.releasedMicros,
        priceVersion: row.priceVersion,
        preauthRequestId: row.requestId,
      },
    }),
  );
}
