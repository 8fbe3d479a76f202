import { resolveCommissionBps, splitCommission } from "@heidrun/core";
import {
  rerunFailedSettlements,
  type SettlementRecord,
  SettlementRequeuer,
  type SettlementStatus as StoredStatus,
  settlementHistory,
} from "@heidrun/db";
import { type Settlement, SettlementStatus } from "@heidrun/proto";
import type { IngressDeps, SettlementHandlers } from "../context";

/**
 * heidrun.v1.SettlementService (proto/heidrun/v1/settlement.proto has each method's behaviour).
 *
 * Contract for implementers: each method is `async (request, ctx) => response`. The request is the ts-proto
 * message, already authenticated and validated by validation.ts (int64 fields are bigint, timestamps Date);
 * `ctx` is a CallContext (context.ts): `{ requestId?, principal: { keyId, scope }, deadline?, log, signal }`.
 * Return the response message, or throw a DomainError from @heidrun/core: its code becomes the gRPC status
 * (INVALID_ARGUMENT with `field` also carries a google.rpc.BadRequest). Anything else thrown is reported to the
 * caller as INTERNAL without its text, and logged with its stack.
 */
export function createSettlementHandlers(deps: IngressDeps): SettlementHandlers {
  return {
    async calculateSettlement(request) {
      const bps = resolveCommissionBps(request.providerId, deps.config.current().settings.commission);
      const split = splitCommission(request.totalCostMicros, bps);
      return {
        requestId: request.requestId,
        totalCostMicros: split.totalCostMicros,
        providerEarningsMicros: split.providerEarningsMicros,
        companyFeeMicros: split.companyFeeMicros,
        commissionRateBps: split.commissionRateBps,
      };
    },
    async getSettlementHistory(request) {
      const page = await settlementHistory(deps.db, {
        providerId: request.providerId || undefined,
        accountId: request.accountId || undefined,
        from: request.from,
        to: request.to,
        status: STATUSES[request.status],
        pageSize: request.pageSize,
        pageToken: request.pageToken,
      });
      return { settlements: page.settlements.map(toProto), nextPageToken: page.nextPageToken };
    },
    async rerunFailedSettlements(request, ctx) {
      // Admin only (services.ts). The one rerun path, shared with `heidrun settlements rerun` and the dashboard:
      // idempotent by request_id (rerun_requests), audited, and unable to settle anything twice.
      const result = await rerunFailedSettlements(deps.db, new SettlementRequeuer(deps.producer), {
        requestId: request.requestId,
        actor: ctx.principal.keyId,
        providerId: request.providerId || undefined,
        since: request.failedFrom,
        until: request.failedTo,
        reasonContains: request.reasonContains || undefined,
        limit: request.limit || undefined,
        dryRun: request.dryRun,
      });
      return { matched: result.matched, requeued: result.requeued };
    },
  };
}

const STATUSES: Partial<Record<SettlementStatus, StoredStatus>> = {
  [SettlementStatus.SETTLEMENT_STATUS_SETTLED]: "settled",
  [SettlementStatus.SETTLEMENT_STATUS_FAILED]: "failed",
};

function toProto(row: SettlementRecord): Settlement {
  return {
    requestId: row.requestId,
    accountId: row.accountId,
    providerId: row.providerId,
    model: row.model,
    usage: {
      inputTokens: row.inputTokens,
      outputTokens: row.outputTokens,
      cachedInputTokens: row.cachedInputTokens,
      cacheWriteTokens: row.cacheWriteTokens,
    },
    totalCostMicros: row.totalCostMicros,
    providerEarningsMicros: row.providerEarningsMicros,
    companyFeeMicros: row.companyFeeMicros,
    commissionRateBps: row.commissionRateBps,
    priceVersion: row.priceVersion ?? 0n,
    preauthId: row.preauthId ?? "",
    status:
      row.status === "settled"
        ? SettlementStatus.SETTLEMENT_STATUS_SETTLED
        : SettlementStatus.SETTLEMENT_STATUS_FAILED,
    failureReason: row.failureReason ?? "",
    occurredAt: row.occurredAt,
    settledAt: row.settledAt,
  };
}
