import { type AuditEventInput, appendAudit } from "./audit";
import type { DbOrTx } from "./pool";
import { loadCaptureCandidates } from "./settle-capture";
import { type PricedCandidate, priceCandidate } from "./settle-pricing";
import {
  applyBalanceChanges,
  insertLedgerEntries,
  insertUsageRows,
  readStoredUsage,
  releaseCaptureHolds,
  type StoredUsageRow,
  upsertHourlyRollups,
  upsertSettlements,
} from "./settle-sql";
import type { SettleCandidate, SettleItem, SettleOptions, SettleOutcome } from "./settle-types";

function candidateOfUsage(item: Extract<SettleItem, { kind: "usage" }>): SettleCandidate {
  return { ...item, preauthId: null };
}

/** A usage row an earlier run wrote is the truth for its request_id, whatever a later job carries. */
function candidateOfStored(row: StoredUsageRow, from: SettleCandidate): SettleCandidate {
  return {
    requestId: row.request_id,
    accountId: row.account_id,
    providerId: row.provider_id,
    model: row.model,
    preauthId: row.preauth_id,
    usage: {
      inputTokens: row.input_tokens,
      outputTokens: row.output_tokens,
      cachedInputTokens: row.cached_input_tokens,
      cacheWriteTokens: row.cache_write_tokens,
    },
    occurredAt: new Date(row.occurred_at),
    actor: from.actor,
    ...(from.pinned ? { pinned: from.pinned } : {}),
  };
}

function auditEvents(inserted: ReadonlySet<string>, written: readonly PricedCandidate[]): AuditEventInput[] {
  const events: AuditEventInput[] = [];
  for (const p of written) {
    const c = p.candidate;
    const who = {
      requestId: c.requestId,
      preauthId: c.preauthId,
      accountId: c.accountId,
      providerId: c.providerId,
      actor: c.actor,
    };
    if (inserted.has(c.requestId)) {
      events.push({
        type: "usage.recorded",
        ...who,
        data: { model: c.model, ...c.usage, occurredAt: c.occurredAt },
      });
    }
    if (p.ok) {
      const { tierAboveInputTokens: _tier, ...cost } = p.cost;
      events.push({
        type: "settlement.settled",
        ...who,
        data: { model: c.model, ...cost, ...p.split, priceVersion: p.priceVersion },
      });
    } else {
      events.push({ type: "settlement.failed", ...who, data: { model: c.model, reason: p.reason } });
    }
  }
  return events;
}

/**
 * Settles a batch inside the caller's transaction (commit it to apply): usage rows (ON CONFLICT DO NOTHING),
 * prices, settlement rows, ledger entries, balances, hourly rollups and, last, one audit append. Only rows
 * this run really wrote move money or write audit records, so running a batch twice applies it once.
 * Answers one outcome per item, in order; an item whose request_id repeats inside the batch shares the
 * outcome of its first occurrence.
 */
export async function settleBatch(
  tx: DbOrTx,
  items: readonly SettleItem[],
  options: SettleOptions,
): Promise<SettleOutcome[]> {
  const outcomes = new Map<string, SettleOutcome>();
  const firsts = new Map<string, SettleItem>();
  for (const item of items) if (!firsts.has(item.requestId)) firsts.set(item.requestId, item);
  // One order for every batch (request_id), so concurrent batches take index and row locks in the same order.
  const primaries = [...firsts.values()].sort((a, b) => (a.requestId < b.requestId ? -1 : 1));

  const captures = await loadCaptureCandidates(
    tx,
    primaries.filter((item) => item.kind === "capture"),
  );
  const candidates: SettleCandidate[] = [];
  for (const item of primaries) {
    if (item.kind === "usage") {
      candidates.push(candidateOfUsage(item));
      continue;
    }
    const resolution = captures.get(item.requestId)!;
    if (resolution.ok) candidates.push(resolution.candidate);
    else
      outcomes.set(item.requestId, {
        status: "rejected",
        requestId: item.requestId,
        reason: resolution.reason,
      });
  }

  const inserted = await insertUsageRows(tx, candidates);
  const earlier = candidates.filter((c) => !inserted.has(c.requestId));
  const stored = new Map(
    (
      await readStoredUsage(
        tx,
        earlier.map((c) => c.requestId),
      )
    ).map((row) => [row.request_id, row]),
  );
  const toPrice: SettleCandidate[] = [];
  for (const candidate of candidates) {
    if (inserted.has(candidate.requestId)) {
      toPrice.push(candidate);
      continue;
    }
    const row = stored.get(candidate.requestId);
    if (row?.status === "settled") {
      outcomes.set(candidate.requestId, { status: "already_settled", requestId: candidate.requestId });
    } else if (row) {
      // Written before but failed (or never settled): a rerun, settled now by the conditional upsert.
      toPrice.push(candidateOfStored(row, candidate));
    } else {
      outcomes.set(candidate.requestId, { status: "already_settled", requestId: candidate.requestId });
    }
  }

  const priced = toPrice.map((candidate) => priceCandidate(candidate, options));
  const writtenStatus = await upsertSettlements(tx, priced);
  const written = priced.filter(
    (p) => writtenStatus.get(p.candidate.requestId) === (p.ok ? "settled" : "failed"),
  );
  const settled = written.filter((p): p is Extract<PricedCandidate, { ok: true }> => p.ok);
  // One statement at a time on the transaction's connection (pg does not pipeline, and queueing a second query
  // on a busy client is deprecated in pg 8 and an error in pg 9). The order is the lock order every writer
  // uses: pre-auth rows, then account rows (in account order), then the audit chain head last; taking the head
  // before the account rows deadlocked against PreAuthorize under load.
  const releasedHolds = await releaseCaptureHolds(tx, settled);
  await insertLedgerEntries(tx, settled);
  await applyBalanceChanges(tx, settled, releasedHolds);
  await upsertHourlyRollups(tx, settled);
  await appendAudit(tx, auditEvents(inserted, written));

  const writtenIds = new Set(written.map((p) => p.candidate.requestId));
  for (const p of priced) {
    const { requestId } = p.candidate;
    if (!writtenIds.has(requestId)) {
      // A concurrent run settled it between our read and our upsert: its result stands.
      outcomes.set(requestId, { status: "already_settled", requestId });
    } else if (p.ok) {
      outcomes.set(requestId, {
        status: "settled",
        requestId,
        accountId: p.candidate.accountId,
        totalCostMicros: p.split.totalCostMicros,
        providerEarningsMicros: p.split.providerEarningsMicros,
        companyFeeMicros: p.split.companyFeeMicros,
        commissionRateBps: p.split.commissionRateBps,
        priceVersion: p.priceVersion,
        occurredAt: p.candidate.occurredAt,
      });
    } else {
      outcomes.set(requestId, { status: "failed", requestId, reason: p.reason });
    }
  }
  return items.map((item) => outcomes.get(item.requestId)!);
}

/**
 * For a job that failed on its own (isolated from its batch) for a reason no retry fixes: records a FAILED
 * settlement with that reason, so it is visible and can be rerun. Writes nothing when the item cannot name its
 * account (a capture without a readable pre-auth) or when the request is already settled.
 */
export async function recordSettlementFailure(
  tx: DbOrTx,
  item: SettleItem,
  reason: string,
): Promise<SettleOutcome> {
  let candidate: SettleCandidate;
  if (item.kind === "usage") {
    candidate = candidateOfUsage(item);
  } else {
    const resolution = (await loadCaptureCandidates(tx, [item])).get(item.requestId)!;
    if (!resolution.ok) return { status: "rejected", requestId: item.requestId, reason };
    candidate = resolution.candidate;
  }
  const failed: PricedCandidate = { candidate, ok: false, reason };
  const written = await upsertSettlements(tx, [failed]);
  if (written.get(item.requestId) !== "failed")
    return { status: "already_settled", requestId: item.requestId };
  await appendAudit(tx, auditEvents(new Set(), [failed]));
  return { status: "failed", requestId: item.requestId, reason };
}
