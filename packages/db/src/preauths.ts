import { DomainError } from "@heidrun/core";
import { sql } from "drizzle-orm";
import { requestConflict, retryOnUniqueViolation } from "./accounts";
import { type AuditEventInput, appendAudit } from "./audit";
import type { Db, DbOrTx } from "./pool";
import { MicroBatcher, type MicroBatcherOptions } from "./preauths-batcher";
import {
  columns,
  firstRow,
  newPreauthId,
  type PreauthOutcome,
  type PreauthRecord,
  type Row,
  recordOf,
} from "./preauths-record";

export * from "./preauths-batcher";
export * from "./preauths-expiry";
export * from "./preauths-record";
export * from "./preauths-terminal";

export interface AuthorizeHoldInput {
  requestId: string;
  /** hashedFingerprint of the request's arguments. */
  fingerprint: string;
  accountId: string;
  providerId: string;
  model: string;
  estimatedCostMicros: bigint;
  estimatedInputTokens: bigint;
  maxOutputTokens: bigint;
  priceVersion: bigint;
  priceVersionId: bigint | null;
  ttlSeconds: number;
  actor: string;
  /** Defaults to newPreauthId(). */
  preauthId?: string;
}

/**
 * One hold, one statement: replay a known request_id; else raise the account's `held` only where
 * balance + credit_limit − held ≥ estimate (a conditional UPDATE under the row lock, so concurrent holds never
 * overdraw) and insert the pre-auth as pending, or as declined (insufficient funds / unknown account).
 * A different fingerprint under a known request_id changes nothing and answers ALREADY_EXISTS.
 */
async function holdStatement(tx: DbOrTx, input: AuthorizeHoldInput): Promise<PreauthOutcome | DomainError> {
  const preauthId = input.preauthId ?? newPreauthId();
  const estimate = input.estimatedCostMicros;
  const result = await tx.execute<Row>(sql`
      WITH existing AS (
        SELECT ${columns} FROM preauths WHERE request_id = ${input.requestId}
      ),
      account AS (
        SELECT account_id, balance_micros + credit_limit_micros - held_micros AS available FROM accounts
        WHERE account_id = ${input.accountId} AND NOT EXISTS (SELECT 1 FROM existing)
        FOR UPDATE
      ),
      hold AS (
        UPDATE accounts a SET held_micros = a.held_micros + ${estimate}::bigint, updated_at = now()
        FROM account
        WHERE a.account_id = account.account_id
          AND a.balance_micros + a.credit_limit_micros - a.held_micros >= ${estimate}::bigint
        RETURNING a.balance_micros + a.credit_limit_micros - a.held_micros AS available
      ),
      created AS (
        INSERT INTO preauths (preauth_id, request_id, fingerprint, account_id, provider_id, model, status,
          decline_reason, held_micros, estimated_cost_micros, estimated_input_tokens, max_output_tokens,
          available_micros, price_version_id, price_version, actor, expires_at)
        SELECT ${preauthId}, ${input.requestId}, ${input.fingerprint}, ${input.accountId}, ${input.providerId},
          ${input.model},
          CASE WHEN h.available IS NOT NULL THEN 'pending' ELSE 'declined' END,
          CASE WHEN h.available IS NOT NULL THEN NULL
               WHEN acc.available IS NULL THEN 'unknown_account' ELSE 'insufficient_funds' END,
          CASE WHEN h.available IS NOT NULL THEN ${estimate}::bigint ELSE 0 END,
          ${estimate}::bigint, ${input.estimatedInputTokens}::bigint, ${input.maxOutputTokens}::bigint,
          coalesce(h.available, acc.available, 0), ${input.priceVersionId}::bigint, ${input.priceVersion}::bigint,
          ${input.actor}, now() + make_interval(secs => ${input.ttlSeconds}::int)
        FROM (SELECT 1) one LEFT JOIN hold h ON true LEFT JOIN account acc ON true
        WHERE NOT EXISTS (SELECT 1 FROM existing)
        RETURNING ${columns}
      )
      SELECT false AS replayed, * FROM created
      UNION ALL
      SELECT true AS replayed, * FROM existing`);
  const row = firstRow(result.rows, input.requestId);
  const preauth = recordOf(row);
  if (preauth.fingerprint !== input.fingerprint) return requestConflict(input.requestId);
  return { preauth, replayed: row.replayed === true };
}

function auditOf(preauth: PreauthRecord, actor: string): AuditEventInput {
  const authorized = preauth.status === "pending";
  return {
    type: authorized ? "preauth.authorized" : "preauth.declined",
    requestId: preauth.requestId,
    preauthId: preauth.preauthId,
    accountId: preauth.accountId,
    providerId: preauth.providerId,
    actor,
    data: {
      model: preauth.model,
      estimatedCostMicros: preauth.estimatedCostMicros,
      heldMicros: preauth.heldMicros,
      availableMicros: preauth.availableMicros,
      priceVersion: preauth.priceVersion,
      ...(authorized ? { expiresAt: preauth.expiresAt } : { declineReason: preauth.declineReason }),
    },
  };
}

/**
 * Several holds in ONE transaction, then their audit records in one append, then one commit. Items run in
 * account order, so batches that share accounts lock them in the same order and never deadlock; each item
 * sees the holds of the items before it, exactly as if they had come one after another.
 */
export async function commitHolds(
  db: Db,
  inputs: readonly AuthorizeHoldInput[],
): Promise<(PreauthOutcome | DomainError)[]> {
  const order = inputs
    .map((input, index) => ({ input, index }))
    .sort(
      (a, b) =>
        compare(a.input.accountId, b.input.accountId) || compare(a.input.requestId, b.input.requestId),
    );
  return db.transaction(async (tx) => {
    const answers: (PreauthOutcome | DomainError)[] = new Array(inputs.length);
    for (const { input, index } of order) answers[index] = await holdStatement(tx, input);
    const fresh = order.flatMap(({ input, index }) => {
      const answer = answers[index];
      return answer && !(answer instanceof DomainError) && !answer.replayed
        ? [auditOf(answer.preauth, input.actor)]
        : [];
    });
    await appendAudit(tx, fresh);
    return answers;
  });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One hold in its own transaction. A concurrent twin of the request_id loses on the unique index, rolls back whole, and replays the winner. */
export async function authorizeHoldAlone(db: Db, input: AuthorizeHoldInput): Promise<PreauthOutcome> {
  const [answer] = await retryOnUniqueViolation(["preauths_request_id_key"], () => commitHolds(db, [input]));
  if (answer === undefined) throw new DomainError("INTERNAL", `no answer for hold ${input.requestId}`);
  if (answer instanceof DomainError) throw answer;
  return answer;
}

export const HOLD_BATCHING: MicroBatcherOptions = { maxBatch: 64, maxConcurrent: 3 };

const batchers = new WeakMap<Db, MicroBatcher<AuthorizeHoldInput, PreauthOutcome>>();

/**
 * PreAuthorize's write. Concurrent calls on the same Db share transactions (MicroBatcher): every hold is
 * still its own conditional statement, but the audit append and the commit flush, which serialize all
 * writers on the audit chain head, are paid once per batch. If a batch fails as a whole (a twin request_id
 * in another batch, a deadlock), each of its holds is retried alone, so one item never fails another.
 */
export function authorizeHold(db: Db, input: AuthorizeHoldInput): Promise<PreauthOutcome> {
  let batcher = batchers.get(db);
  if (batcher === undefined) {
    batcher = new MicroBatcher<AuthorizeHoldInput, PreauthOutcome>(async (items) => {
      if (items.length === 1) return [await authorizeHoldAlone(db, items[0] as AuthorizeHoldInput)];
      try {
        return await commitHolds(db, items);
      } catch {
        return Promise.all(items.map((item) => authorizeHoldAlone(db, item).catch((error: Error) => error)));
      }
    }, HOLD_BATCHING);
    batchers.set(db, batcher);
  }
  return batcher.submit(input);
}
