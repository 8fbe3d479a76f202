import { DomainError, requestFingerprint } from "@heidrun/core";
import { type SQL, sql } from "drizzle-orm";
import { appendAudit } from "./audit";
import type { Db, DbOrTx } from "./pool";

/** AccountService's Balance: available = balance + credit_limit − held. */
export interface AccountBalance {
  accountId: string;
  balanceMicros: bigint;
  heldMicros: bigint;
  availableMicros: bigint;
  creditLimitMicros: bigint;
  currency: string;
}

export interface CreditAccountInput {
  requestId: string;
  accountId: string;
  amountMicros: bigint;
  reference: string;
  /** Who asked (API key id); recorded with the operation and in the audit trail. */
  actor: string;
}

export interface SetCreditLimitInput {
  requestId: string;
  accountId: string;
  creditLimitMicros: bigint;
  actor: string;
}

export interface AccountOperationResult {
  balance: AccountBalance;
  /** True when the request_id was already applied and this is its first answer again. */
  replayed: boolean;
}

/** Whether `error` (or the pg error drizzle wraps) is a unique violation, optionally of one constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  for (let e = error as { code?: unknown; constraint?: unknown; cause?: unknown } | undefined; e; ) {
    if (e.code === "23505") return constraint === undefined || e.constraint === constraint;
    e = e.cause as typeof e;
  }
  return false;
}

/**
 * Runs `attempt` once more when a concurrent twin of the same request_id committed first: the loser's whole
 * transaction rolled back on the unique index, and the second run finds the winner's row and replays it.
 */
export async function retryOnUniqueViolation<T>(
  constraints: readonly string[],
  attempt: () => Promise<T>,
): Promise<T> {
  try {
    return await attempt();
  } catch (error) {
    if (!constraints.some((constraint) => isUniqueViolation(error, constraint))) throw error;
    return attempt();
  }
}

/**
 * A statement that met a twin of its request_id still in flight waits for it, then finds nothing it may see
 * (its snapshot predates the twin's commit). Retrying in a new transaction replays the twin's answer.
 */
const TWIN_IN_FLIGHT = "a request with the same request_id was in flight";

export function twinInFlight(requestId: string): DomainError {
  return DomainError.unavailable(`${TWIN_IN_FLIGHT} (${requestId}); retry with the same request_id`);
}

export async function retryWhileTwinInFlight<T>(attempt: () => Promise<T>, attempts = 3): Promise<T> {
  for (let tried = 1; ; tried++) {
    try {
      return await attempt();
    } catch (error) {
      const isTwin = error instanceof DomainError && error.message.startsWith(TWIN_IN_FLIGHT);
      if (!isTwin || tried >= attempts) throw error;
    }
  }
}

export function requestConflict(requestId: string): DomainError {
  return new DomainError(
    "ALREADY_EXISTS",
    `request_id ${requestId} was already used with different arguments`,
    {
      field: "request_id",
    },
  );
}

type StoredBalance = Record<keyof AccountBalance, string>;

function balanceFromStored(stored: StoredBalance): AccountBalance {
  return {
    accountId: stored.accountId,
    balanceMicros: BigInt(stored.balanceMicros),
    heldMicros: BigInt(stored.heldMicros),
    availableMicros: BigInt(stored.availableMicros),
    creditLimitMicros: BigInt(stored.creditLimitMicros),
    currency: stored.currency,
  };
}

interface OperationRow {
  replayed: boolean;
  fingerprint: string;
  response: StoredBalance;
}

/**
 * One statement: replay the stored answer when the request_id is known; otherwise change the account (created
 * on first use), record the operation with its answer, and run `extra` (ledger entries) against `changed`.
 */
function applyOperation(
  tx: DbOrTx,
  op: {
    kind: "credit" | "credit_limit";
    requestId: string;
    accountId: string;
    amount: bigint;
    reference: string;
  },
  fingerprint: string,
  actor: string,
  change: { insert: SQL; onConflict: SQL; extra?: SQL },
) {
  return tx.execute<OperationRow & Record<string, unknown>>(sql`
    WITH existing AS (
      SELECT fingerprint, response FROM account_operations WHERE request_id = ${op.requestId}
    ),
    changed AS (
      INSERT INTO accounts (account_id, balance_micros, credit_limit_micros)
      SELECT ${op.accountId}::text, ${change.insert} WHERE NOT EXISTS (SELECT 1 FROM existing)
      ON CONFLICT (account_id) DO UPDATE SET ${change.onConflict}, updated_at = now()
      RETURNING account_id, balance_micros, held_micros, credit_limit_micros, currency
    ),
    answer AS (
      SELECT jsonb_build_object(
        'accountId', account_id,
        'balanceMicros', balance_micros::text,
        'heldMicros', held_micros::text,
        'availableMicros', (balance_micros + credit_limit_micros - held_micros)::text,
        'creditLimitMicros', credit_limit_micros::text,
        'currency', currency) AS response
      FROM changed
    ),
    recorded AS (
      INSERT INTO account_operations (request_id, kind, fingerprint, account_id, amount_micros, reference, response, actor)
      SELECT ${op.requestId}, ${op.kind}, ${fingerprint}, ${op.accountId}, ${op.amount}::bigint, ${op.reference},
        response, ${actor}
      FROM answer
    )
    ${change.extra ?? sql``}
    SELECT false AS replayed, ${fingerprint}::text AS fingerprint, response FROM answer
    UNION ALL
    SELECT true, fingerprint, response FROM existing`);
}

async function runOperation(
  db: Db,
  op: {
    kind: "credit" | "credit_limit";
    requestId: string;
    accountId: string;
    amount: bigint;
    reference: string;
  },
  actor: string,
  change: { insert: SQL; onConflict: SQL; extra?: SQL },
  audit: (balance: AccountBalance) => Parameters<typeof appendAudit>[1][number],
): Promise<AccountOperationResult> {
  const fingerprint = requestFingerprint({
    kind: op.kind,
    accountId: op.accountId,
    amountMicros: op.amount,
    reference: op.reference,
  });
  // The ledger's key is the credit's request_id too: a twin may trip either index first.
  return retryWhileTwinInFlight(() =>
    retryOnUniqueViolation(["account_operations_pkey", "ledger_entries_request_entry_key"], () =>
      db.transaction(async (tx) => {
        const result = await applyOperation(tx, op, fingerprint, actor, change);
        const row = result.rows[0];
        if (!row) throw twinInFlight(op.requestId);
        if (row.fingerprint !== fingerprint) throw requestConflict(op.requestId);
        const balance = balanceFromStored(row.response);
        if (!row.replayed) await appendAudit(tx, [audit(balance)]);
        return { balance, replayed: row.replayed };
      }),
    ),
  );
}

/** CreditAccount: balance += amount (creating the account), ledger consumer +amount / funding −amount. */
export async function creditAccount(db: Db, input: CreditAccountInput): Promise<AccountOperationResult> {
  if (input.amountMicros <= 0n) throw DomainError.invalid("amount_micros", "must be greater than 0");
  const amount = input.amountMicros;
  const op = { kind: "credit" as const, ...input, amount };
  const ledger = sql`,
    ledger AS (
      INSERT INTO ledger_entries (request_id, entry_type, account_kind, account_id, amount_micros)
      SELECT ${input.requestId}, e.entry_type, e.account_kind, changed.account_id, e.amount
      FROM changed, (VALUES ('credit', 'consumer', ${amount}::bigint),
                            ('credit_funding', 'funding', -${amount}::bigint)) AS e(entry_type, account_kind, amount)
    )`;
  return runOperation(
    db,
    op,
    input.actor,
    {
      insert: sql`${amount}::bigint, 0::bigint`,
      onConflict: sql`balance_micros = accounts.balance_micros + EXCLUDED.balance_micros`,
      extra: ledger,
    },
    (balance) => ({
      type: "account.credited",
      requestId: input.requestId,
      accountId: input.accountId,
      actor: input.actor,
      data: { amountMicros: amount, reference: input.reference, balanceMicros: balance.balanceMicros },
    }),
  );
}

/** SetCreditLimit: credit_limit = limit (creating the account). */
export async function setCreditLimit(db: Db, input: SetCreditLimitInput): Promise<AccountOperationResult> {
  if (input.creditLimitMicros < 0n) throw DomainError.invalid("credit_limit_micros", "must not be negative");
  const limit = input.creditLimitMicros;
  const op = { kind: "credit_limit" as const, ...input, amount: limit, reference: "" };
  return runOperation(
    db,
    op,
    input.actor,
    {
      insert: sql`0::bigint, ${limit}::bigint`,
      onConflict: sql`credit_limit_micros = EXCLUDED.credit_limit_micros`,
    },
    (balance) => ({
      type: "account.credit_limit_set",
      requestId: input.requestId,
      accountId: input.accountId,
      actor: input.actor,
      data: { creditLimitMicros: limit, availableMicros: balance.availableMicros },
    }),
  );
}

/** GetBalance; NOT_FOUND for an account never credited nor given a limit. */
export async function getBalance(db: DbOrTx, accountId: string): Promise<AccountBalance> {
  const result = await db.execute<AccountBalance & Record<string, unknown>>(sql`
    SELECT account_id AS "accountId", balance_micros AS "balanceMicros", held_micros AS "heldMicros",
      balance_micros + credit_limit_micros - held_micros AS "availableMicros",
      credit_limit_micros AS "creditLimitMicros", currency
    FROM accounts WHERE account_id = ${accountId}`);
  const row = result.rows[0];
  if (!row) throw DomainError.notFound(`account ${accountId} not found`);
  return { ...row };
}
