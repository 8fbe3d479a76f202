import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { QueryResult } from "pg";
import type { DbOrTx } from "./pool";
import { columns, columnsOf, newPreauthId, type Row } from "./preauths-record";

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

const dialect = new PgDialect();
const GRANT_STATEMENT = "heidrun_grant_round_v1";

/**
 * Splits holds into rounds in which every account and every request_id appears once, so one statement can
 * grant a whole round: a later hold on the same account runs in a later round and sees the earlier one.
 */
export function holdRounds<T extends Pick<AuthorizeHoldInput, "accountId" | "requestId">>(
  items: readonly T[],
): T[][] {
  const rounds: T[][] = [];
  const seenAccounts = new Map<string, number>();
  const seenRequests = new Map<string, number>();
  for (const item of items) {
    const round = Math.max(seenAccounts.get(item.accountId) ?? 0, seenRequests.get(item.requestId) ?? 0);
    seenAccounts.set(item.accountId, round + 1);
    seenRequests.set(item.requestId, round + 1);
    const members = rounds[round] ?? [];
    members.push(item);
    rounds[round] = members;
  }
  return rounds;
}

/**
 * One round of holds, one statement. A known request_id is answered by its row; every other hold locks its
 * account (in account_id order, so concurrent rounds never deadlock), raises `held` only where
 * balance + credit_limit − held ≥ estimate (re-checked on the latest row version, so concurrent holds never
 * overdraw), and inserts its pre-auth: pending, or declined for insufficient funds or an unknown account.
 * expires_at is the database clock plus the TTL. Returns the rows (replayed ones marked) by request_id.
 */
export async function grantRound(
  tx: DbOrTx,
  round: readonly AuthorizeHoldInput[],
): Promise<Map<string, Row>> {
  const list = <T>(pick: (input: AuthorizeHoldInput) => T) => sql.param(round.map(pick));
  const query = dialect.sqlToQuery(sql`
    WITH input AS (
      SELECT * FROM unnest(
        ${list((i) => i.preauthId ?? newPreauthId())}::text[], ${list((i) => i.requestId)}::text[],
        ${list((i) => i.fingerprint)}::text[], ${list((i) => i.accountId)}::text[],
        ${list((i) => i.providerId)}::text[], ${list((i) => i.model)}::text[],
        ${list((i) => i.estimatedCostMicros)}::bigint[], ${list((i) => i.estimatedInputTokens)}::bigint[],
        ${list((i) => i.maxOutputTokens)}::bigint[], ${list((i) => i.priceVersionId)}::bigint[],
        ${list((i) => i.priceVersion)}::bigint[], ${list((i) => i.ttlSeconds)}::int[], ${list((i) => i.actor)}::text[]
      ) AS i(preauth_id, request_id, fingerprint, account_id, provider_id, model, estimate, input_tokens,
             max_output_tokens, price_version_id, price_version, ttl, actor)
    ),
    existing AS (
      SELECT ${columnsOf("p")} FROM preauths p WHERE p.request_id IN (SELECT request_id FROM input)
    ),
    fresh AS (
      SELECT * FROM input i WHERE NOT EXISTS (SELECT 1 FROM preauths p WHERE p.request_id = i.request_id)
    ),
    account AS (
      SELECT account_id, balance_micros + credit_limit_micros - held_micros AS available FROM accounts
      WHERE account_id IN (SELECT account_id FROM fresh)
      ORDER BY account_id
      FOR UPDATE
    ),
    hold AS (
      UPDATE accounts a SET held_micros = a.held_micros + f.estimate, updated_at = now()
      FROM fresh f JOIN account acc ON acc.account_id = f.account_id
      WHERE a.account_id = f.account_id AND a.balance_micros + a.credit_limit_micros - a.held_micros >= f.estimate
      RETURNING f.request_id, a.balance_micros + a.credit_limit_micros - a.held_micros AS available
    ),
    created AS (
      INSERT INTO preauths (preauth_id, request_id, fingerprint, account_id, provider_id, model, status,
        decline_reason, held_micros, estimated_cost_micros, estimated_input_tokens, max_output_tokens,
        available_micros, price_version_id, price_version, actor, expires_at)
      SELECT f.preauth_id, f.request_id, f.fingerprint, f.account_id, f.provider_id, f.model,
        CASE WHEN h.available IS NOT NULL THEN 'pending' ELSE 'declined' END,
        CASE WHEN h.available IS NOT NULL THEN NULL
             WHEN acc.available IS NULL THEN 'unknown_account' ELSE 'insufficient_funds' END,
        CASE WHEN h.available IS NOT NULL THEN f.estimate ELSE 0 END,
        f.estimate, f.input_tokens, f.max_output_tokens, coalesce(h.available, acc.available, 0),
        f.price_version_id, f.price_version, f.actor, now() + make_interval(secs => f.ttl)
      FROM fresh f
      LEFT JOIN hold h ON h.request_id = f.request_id
      LEFT JOIN account acc ON acc.account_id = f.account_id
      RETURNING ${columns}
    )
    SELECT false AS replayed, * FROM created
    UNION ALL
    SELECT true AS replayed, * FROM existing`);
  // Named: the text never changes (the round travels as arrays), so each connection plans it once; planning
  // costs several times what executing a round does.
  const prepared = tx._.session.prepareQuery(query, undefined, GRANT_STATEMENT, false);
  const result = (await prepared.execute()) as QueryResult<Row>;
  return new Map(result.rows.map((row) => [row.requestId, row]));
}
