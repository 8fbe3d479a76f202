import type { PriceVersion } from "@heidrun/core";
import { type Db, verifyAuditChain } from "@heidrun/db";
import type {
  CapturePreAuthRequest,
  TrackTokensBatchRequest,
  TrackTokensBatchResponse,
  TrackTokensRequest,
} from "@heidrun/proto";
import type pg from "pg";
import { type CallRecord, UNKNOWN_OUTCOMES } from "./client";
import { LedgerModel, type ModelSettings } from "./model";

export type CheckerName = "C1" | "C2" | "C3" | "C4" | "C5" | "C6";
/** Each checker's violations, one readable line each; all empty when the run kept every guarantee. */
export type Violations = Record<CheckerName, string[]>;

export interface CheckInput {
  pool: pg.Pool;
  db: Db;
  records: readonly CallRecord[];
  prices: readonly PriceVersion[];
  settings: ModelSettings;
  now?: Date;
}

/** Request ids whose settlement the client was promised: acknowledged usage and captures. */
export function acknowledgedSettlements(records: readonly CallRecord[]): Set<string> {
  const ids = new Set<string>();
  for (const record of records) {
    if (record.outcome !== "ok") continue;
    if (record.method === "TrackTokens") ids.add((record.request as TrackTokensRequest).requestId);
    if (record.method === "TrackTokensBatch") {
      const items = (record.request as TrackTokensBatchRequest).items;
      const results = (record.response as TrackTokensBatchResponse).results;
      items.forEach((item, i) => {
        if (results[i]?.accepted) ids.add(item.requestId);
      });
    }
    if (record.method === "CapturePreAuth") ids.add((record.request as CapturePreAuthRequest).requestId);
  }
  return ids;
}

async function rows<R>(pool: pg.Pool, text: string, values: unknown[] = []): Promise<R[]> {
  return (await pool.query(text, values)).rows as R[];
}

async function one(pool: pg.Pool, text: string): Promise<bigint> {
  const [row] = await rows<{ n: bigint | string | null }>(pool, text);
  return BigInt(row?.n ?? 0);
}

const sample = (ids: Iterable<string>, n = 5) => [...ids].slice(0, n).join(", ");

/** C1 nothing lost: every acknowledged request id has exactly one settlement, SETTLED or a visible FAILED. */
async function nothingLost(pool: pg.Pool, acked: Set<string>): Promise<string[]> {
  const found = await rows<{ request_id: string; status: string }>(
    pool,
    "SELECT request_id, status FROM settlements WHERE request_id = ANY($1::text[])",
    [[...acked]],
  );
  const settled = new Set(found.map((r) => r.request_id));
  const missing = [...acked].filter((id) => !settled.has(id));
  const usage = await one(pool, "SELECT count(*) AS n FROM usage_events");
  const out: string[] = [];
  if (missing.length) out.push(`${missing.length} acknowledged request(s) never settled: ${sample(missing)}`);
  const odd = found.filter((r) => r.status !== "settled" && r.status !== "failed");
  if (odd.length) out.push(`settlements in status ${odd[0]!.status}`);
  if (usage < BigInt(found.length)) out.push(`${found.length} settlements but ${usage} usage rows`);
  return out;
}

/** C2 no duplicates: nothing applied twice, nothing applied that nobody asked for. */
async function noDuplicates(pool: pg.Pool, records: readonly CallRecord[]): Promise<string[]> {
  const out: string[] = [];
  const twice = await rows<{ event_type: string; request_id: string; n: number }>(
    pool,
    `SELECT event_type, request_id, count(*)::int AS n FROM audit_events
     WHERE event_type IN ('usage.recorded', 'settlement.settled', 'account.credited', 'preauth.authorized',
       'preauth.capture_requested', 'preauth.cancelled')
     GROUP BY 1, 2 HAVING count(*) > 1`,
  );
  for (const r of twice.slice(0, 5)) out.push(`${r.event_type} recorded ${r.n}× for ${r.request_id}`);
  const charges = await rows<{ request_id: string }>(
    pool,
    "SELECT request_id FROM ledger_entries GROUP BY request_id, entry_type HAVING count(*) > 1",
  );
  if (charges.length) out.push(`ledger entries posted twice: ${sample(charges.map((c) => c.request_id))}`);
  const rollups = await one(
    pool,
    "SELECT coalesce(sum(request_count), 0)::bigint AS n FROM usage_rollups_hourly",
  );
  const settledCount = await one(pool, "SELECT count(*) AS n FROM settlements WHERE status = 'settled'");
  if (rollups !== settledCount) out.push(`rollups count ${rollups} requests, settlements ${settledCount}`);
  const asked = new Set(records.flatMap((r) => r.requestIds));
  const all = await rows<{ request_id: string }>(pool, "SELECT request_id FROM settlements");
  const phantom = all.map((r) => r.request_id).filter((id) => !asked.has(id));
  if (phantom.length) out.push(`${phantom.length} settlement(s) nobody asked for: ${sample(phantom)}`);
  return out;
}

/** C3 money conserved. */
async function moneyConserved(pool: pg.Pool): Promise<string[]> {
  const out: string[] = [];
  const total = await one(pool, "SELECT coalesce(sum(amount_micros), 0)::bigint AS n FROM ledger_entries");
  if (total !== 0n) out.push(`the ledger sums to ${total}, not 0`);
  const unbalanced = await rows<{ request_id: string }>(
    pool,
    "SELECT request_id FROM ledger_entries GROUP BY request_id HAVING sum(amount_micros) <> 0",
  );
  if (unbalanced.length) out.push(`unbalanced requests: ${sample(unbalanced.map((r) => r.request_id))}`);
  const split = await rows<{ request_id: string }>(
    pool,
    `SELECT s.request_id FROM settlements s
     LEFT JOIN ledger_entries c ON c.request_id = s.request_id AND c.entry_type = 'usage_charge'
     LEFT JOIN ledger_entries e ON e.request_id = s.request_id AND e.entry_type = 'provider_earnings'
     LEFT JOIN ledger_entries f ON f.request_id = s.request_id AND f.entry_type = 'platform_fee'
     WHERE s.status = 'settled' AND (s.provider_earnings_micros + s.company_fee_micros <> s.total_cost_micros
       OR coalesce(-c.amount_micros, 0) <> s.total_cost_micros
       OR coalesce(e.amount_micros, 0) <> s.provider_earnings_micros
       OR coalesce(f.amount_micros, 0) <> s.company_fee_micros)`,
  );
  if (split.length)
    out.push(`fee + earnings ≠ total or ledger ≠ settlement: ${sample(split.map((r) => r.request_id))}`);
  const drift = await rows<{ account_id: string; balance_micros: bigint; expected: string }>(
    pool,
    `SELECT a.account_id, a.balance_micros,
       coalesce((SELECT sum(amount_micros) FROM ledger_entries l
                 WHERE l.account_id = a.account_id AND l.entry_type = 'credit'), 0)
       - coalesce((SELECT sum(total_cost_micros) FROM settlements s
                   WHERE s.account_id = a.account_id AND s.status = 'settled'), 0) AS expected
     FROM accounts a`,
  );
  for (const r of drift.filter((d) => d.balance_micros !== BigInt(d.expected)).slice(0, 5)) {
    out.push(`${r.account_id}: balance ${r.balance_micros}, credits − settled = ${r.expected}`);
  }
  // Pending pre-auths hold their estimates, captured ones their cost until the settlement releases it.
  const holds = await rows<{ account_id: string; held_micros: bigint; open: string }>(
    pool,
    `SELECT a.account_id, a.held_micros,
       coalesce((SELECT sum(held_micros) FROM preauths p WHERE p.account_id = a.account_id), 0) AS open
     FROM accounts a`,
  );
  for (const r of holds.filter((h) => h.held_micros !== BigInt(h.open)).slice(0, 5)) {
    out.push(`${r.account_id}: held ${r.held_micros}, pre-auths hold ${r.open}`);
  }
  const stuck = await rows<{ preauth_id: string }>(
    pool,
    `SELECT p.preauth_id FROM preauths p JOIN settlements s ON s.request_id = p.capture_request_id
     WHERE s.status = 'settled' AND p.held_micros <> 0`,
  );
  if (stuck.length)
    out.push(`settled captures still holding funds: ${sample(stuck.map((r) => r.preauth_id))}`);
  return out;
}

/** C4 the audit chain verifies and holds one record per change. */
async function auditComplete(pool: pg.Pool, db: Db): Promise<string[]> {
  const out: string[] = [];
  const chain = await verifyAuditChain(db);
  if (!chain.ok) out.push(`audit chain broken at seq ${chain.badSeq}: ${chain.reason}`);
  const expected: [string, string][] = [
    ["usage.recorded", "SELECT count(*) AS n FROM usage_events"],
    ["settlement.settled", "SELECT count(*) AS n FROM settlements WHERE status = 'settled'"],
    ["account.credited", "SELECT count(*) AS n FROM account_operations WHERE kind = 'credit'"],
    ["account.credit_limit_set", "SELECT count(*) AS n FROM account_operations WHERE kind = 'credit_limit'"],
    ["preauth.authorized", "SELECT count(*) AS n FROM preauths WHERE decline_reason IS NULL"],
    ["preauth.declined", "SELECT count(*) AS n FROM preauths WHERE decline_reason IS NOT NULL"],
    ["preauth.capture_requested", "SELECT count(*) AS n FROM preauths WHERE capture_request_id IS NOT NULL"],
    ["preauth.cancelled", "SELECT count(*) AS n FROM preauths WHERE status = 'cancelled'"],
    ["preauth.expired", "SELECT count(*) AS n FROM preauths WHERE expired_at IS NOT NULL"],
    ["price.set", "SELECT count(*) AS n FROM price_versions"],
    ["settlement.rerun_requested", "SELECT count(*) AS n FROM rerun_requests"],
  ];
  const counted = new Map(
    (
      await rows<{ event_type: string; n: bigint }>(
        pool,
        "SELECT event_type, count(*) AS n FROM audit_events GROUP BY 1",
      )
    ).map((r) => [r.event_type, r.n]),
  );
  for (const [type, query] of expected) {
    const changes = await one(pool, query);
    const records = counted.get(type) ?? 0n;
    if (records !== changes) out.push(`${type}: ${records} audit records for ${changes} changes`);
  }
  const failed = await one(pool, "SELECT count(*) AS n FROM settlements WHERE status = 'failed'");
  if ((counted.get("settlement.failed") ?? 0n) < failed) {
    out.push(
      `${failed} failed settlements but ${counted.get("settlement.failed") ?? 0n} settlement.failed records`,
    );
  }
  return out;
}

/** C5 every unknown outcome was resolved by a retry, and no call ended in an error the contract rules out. */
function unknownsResolved(records: readonly CallRecord[]): string[] {
  const out: string[] = [];
  const unresolved = records.filter((r) => r.outcome === "unresolved");
  if (unresolved.length) {
    out.push(
      `${unresolved.length} call(s) never got a definite answer: ${sample(unresolved.map((r) => `${r.method} ${r.requestIds[0]} (${r.code})`))}`,
    );
  }
  const internal = records.filter((r) =>
    r.attempts.some((a) => a.code === "INTERNAL" || a.code === "UNKNOWN"),
  );
  if (internal.length) {
    const first = internal[0]!;
    out.push(
      `${internal.length} call(s) answered INTERNAL/UNKNOWN, e.g. ${first.method} ${first.requestIds[0]}: ${first.attempts.find((a) => a.code === "INTERNAL" || a.code === "UNKNOWN")?.details}`,
    );
  }
  const retried = records.filter((r) => r.attempts.some((a) => UNKNOWN_OUTCOMES.has(a.code)));
  const stillUnknown = retried.filter((r) => UNKNOWN_OUTCOMES.has(r.code));
  if (stillUnknown.length) out.push(`${stillUnknown.length} retried call(s) ended unknown`);
  return out;
}

/** C6 the acknowledged operations replayed through an in-memory model give the database's balances. */
async function modelAgrees(input: CheckInput): Promise<string[]> {
  const model = new LedgerModel(input.prices, input.settings).replay(input.records, input.now ?? new Date());
  const out = [...model.problems];
  const accounts = await rows<{ account_id: string; balance_micros: bigint; held_micros: bigint }>(
    input.pool,
    "SELECT account_id, balance_micros, held_micros FROM accounts",
  );
  const seen = new Set<string>();
  for (const a of accounts) {
    seen.add(a.account_id);
    const balance = model.balances.get(a.account_id) ?? 0n;
    const held = model.held.get(a.account_id) ?? 0n;
    if (balance !== a.balance_micros)
      out.push(`${a.account_id}: balance ${a.balance_micros}, model ${balance}`);
    if (held !== a.held_micros) out.push(`${a.account_id}: held ${a.held_micros}, model ${held}`);
  }
  for (const [account, balance] of model.balances) {
    if (!seen.has(account) && balance !== 0n)
      out.push(`${account}: no account row, model balance ${balance}`);
  }
  const providers = await rows<{ account_id: string; n: bigint }>(
    input.pool,
    "SELECT account_id, sum(amount_micros)::bigint AS n FROM ledger_entries WHERE account_kind = 'provider' GROUP BY 1",
  );
  for (const p of providers) {
    const expected = model.providerEarnings.get(p.account_id) ?? 0n;
    if (expected !== p.n) out.push(`provider ${p.account_id}: earned ${p.n}, model ${expected}`);
  }
  const fees = await one(
    input.pool,
    "SELECT coalesce(sum(amount_micros), 0)::bigint AS n FROM ledger_entries WHERE account_kind = 'platform'",
  );
  if (fees !== model.platformFees) out.push(`platform fees ${fees}, model ${model.platformFees}`);
  return out;
}

export async function runCheckers(input: CheckInput): Promise<Violations> {
  const acked = acknowledgedSettlements(input.records);
  return {
    C1: await nothingLost(input.pool, acked),
    C2: await noDuplicates(input.pool, input.records),
    C3: await moneyConserved(input.pool),
    C4: await auditComplete(input.pool, input.db),
    C5: unknownsResolved(input.records),
    C6: await modelAgrees(input),
  };
}

export const NO_VIOLATIONS: Violations = { C1: [], C2: [], C3: [], C4: [], C5: [], C6: [] };
