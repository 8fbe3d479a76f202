import { sql } from "drizzle-orm";
import { appendAudit } from "./audit";
import type { Db } from "./pool";

interface ExpiredRow extends Record<string, unknown> {
  preauthId: string;
  requestId: string;
  accountId: string;
  providerId: string;
  released: bigint;
}

/**
 * One pass of the expiry sweeper: up to `limit` pending pre-auths past expires_at (database clock) become
 * expired and release their holds, with their audit records, in one transaction. SKIP LOCKED lets concurrent
 * sweepers (and captures/cancels holding a row) pass each other; the conditional status keeps every release
 * single. Accounts are locked in account_id order so overlapping sweeps cannot deadlock. Returns how many expired.
 */
export async function expireDuePreauths(db: Db, options: { limit: number; actor: string }): Promise<number> {
  return db.transaction(async (tx) => {
    const expired = await tx.execute<ExpiredRow>(sql`
      WITH due AS (
        SELECT preauth_id, held_micros FROM preauths
        WHERE status = 'pending' AND expires_at <= now()
        ORDER BY expires_at LIMIT ${options.limit}::int
        FOR UPDATE SKIP LOCKED
      )
      UPDATE preauths p SET status = 'expired', held_micros = 0, released_micros = due.held_micros, expired_at = now()
      FROM due WHERE p.preauth_id = due.preauth_id AND p.status = 'pending'
      RETURNING p.preauth_id AS "preauthId", p.request_id AS "requestId", p.account_id AS "accountId",
        p.provider_id AS "providerId", due.held_micros AS released`);
    const rows = expired.rows;
    if (rows.length === 0) return 0;
    const perAccount = new Map<string, bigint>();
    for (const row of rows)
      perAccount.set(row.accountId, (perAccount.get(row.accountId) ?? 0n) + row.released);
    const accountIds = [...perAccount.keys()].sort();
    const amounts = accountIds.map((id) => perAccount.get(id) ?? 0n);
    await tx.execute(sql`
      SELECT 1 FROM accounts WHERE account_id = ANY(${sql.param(accountIds)}::text[])
      ORDER BY account_id FOR UPDATE`);
    await tx.execute(sql`
      UPDATE accounts a SET held_micros = a.held_micros - r.amount, updated_at = now()
      FROM unnest(${sql.param(accountIds)}::text[], ${sql.param(amounts)}::bigint[]) AS r(account_id, amount)
      WHERE a.account_id = r.account_id`);
    await appendAudit(
      tx,
      rows.map((row) => ({
        type: "preauth.expired" as const,
        requestId: row.requestId,
        preauthId: row.preauthId,
        accountId: row.accountId,
        providerId: row.providerId,
        actor: options.actor,
        data: { releasedMicros: row.released },
      })),
    );
    return rows.length;
  });
}
