import {
  applyPreAuthAction,
  type PreAuthStatus as CoreStatus,
  calculateCost,
  DomainError,
  estimatePreAuth,
} from "@heidrun/core";
import {
  authorizeHold,
  cancelHold,
  captureHold,
  getPreauth,
  hashedFingerprint,
  type PreauthRecord,
  type PriceCache,
  type PricedVersion,
  priceFromRow,
  priceVersions,
} from "@heidrun/db";
import { DeclineReason, type PreAuthorizeRequest, PreAuthStatus } from "@heidrun/proto";
import { eq } from "drizzle-orm";
import type { CallContext, IngressDeps, PreAuthHandlers } from "../context";

/** What PreAuthService uses of the price cache: the price in effect now, and a pinned version. */
export type PriceLookup = Pick<PriceCache, "resolve" | "byVersion">;

type PreAuthDeps = Pick<IngressDeps, "db" | "config" | "priceCache" | "producer" | "tokenCounter">;

const STATUS: Record<CoreStatus, PreAuthStatus> = {
  pending: PreAuthStatus.PRE_AUTH_STATUS_PENDING,
  captured: PreAuthStatus.PRE_AUTH_STATUS_CAPTURED,
  cancelled: PreAuthStatus.PRE_AUTH_STATUS_CANCELLED,
  expired: PreAuthStatus.PRE_AUTH_STATUS_EXPIRED,
  declined: PreAuthStatus.PRE_AUTH_STATUS_DECLINED,
};

const DECLINE: Record<NonNullable<PreauthRecord["declineReason"]>, DeclineReason> = {
  insufficient_funds: DeclineReason.DECLINE_REASON_INSUFFICIENT_FUNDS,
  unknown_account: DeclineReason.DECLINE_REASON_UNKNOWN_ACCOUNT,
};

/** Who the audit trail and the settlement job name as the cause. */
function actorOf(ctx: CallContext): string {
  return ctx.principal.keyId;
}

function ttlOf(
  request: PreAuthorizeRequest,
  settings: { defaultTtlSeconds: number; maxTtlSeconds: number },
): number {
  if (request.ttlSeconds === 0) return settings.defaultTtlSeconds;
  if (request.ttlSeconds < 0 || request.ttlSeconds > settings.maxTtlSeconds) {
    throw DomainError.invalid("ttl_seconds", `must be between 0 and ${settings.maxTtlSeconds}`);
  }
  return request.ttlSeconds;
}

async function inputTokensOf(deps: PreAuthDeps, request: PreAuthorizeRequest): Promise<bigint> {
  const hasText = request.promptText !== "";
  const hasMessages = request.messages.length > 0;
  if (hasText && hasMessages) throw DomainError.invalid("messages", "give prompt_text or messages, not both");
  if (!hasText && !hasMessages) return request.estimatedInputTokens;
  if (request.estimatedInputTokens !== 0n) {
    throw DomainError.invalid(
      "estimated_input_tokens",
      "give estimated_input_tokens or prompt_text/messages, not both",
    );
  }
  const counted = await deps.tokenCounter.countTokens(
    hasText
      ? { providerId: request.providerId, model: request.model, text: request.promptText }
      : { providerId: request.providerId, model: request.model, messages: request.messages },
  );
  return counted.tokens;
}

/** The version pinned at authorization: from the cache by (provider, model or "*", version) and row id, else the row. */
async function pinnedPrice(deps: PreAuthDeps, preauth: PreauthRecord): Promise<PricedVersion> {
  for (const model of [preauth.model, "*"]) {
    const price = deps.priceCache.byVersion(preauth.providerId, model, preauth.priceVersion);
    if (price && (preauth.priceVersionId === null || price.id === preauth.priceVersionId)) return price;
  }
  if (preauth.priceVersionId !== null) {
    const [row] = await deps.db
      .select()
      .from(priceVersions)
      .where(eq(priceVersions.id, preauth.priceVersionId));
    if (row) return priceFromRow(row);
  }
  throw new DomainError(
    "INTERNAL",
    `pre-authorization ${preauth.preauthId}: pinned price version ${preauth.priceVersion} not found`,
  );
}

/** Queues the settlement of a recorded capture; its job id is the capture's request id, so a repeat is a no-op. */
function queueSettlement(deps: PreAuthDeps, preauth: PreauthRecord, requestId: string, actor: string) {
  return deps.producer.enqueueWithoutWindow([
    { requestId, job: { name: "settle-capture", data: { requestId, preauthId: preauth.preauthId, actor } } },
  ]);
}

export function toPreAuth(preauth: PreauthRecord) {
  return {
    preauthId: preauth.preauthId,
    requestId: preauth.requestId,
    accountId: preauth.accountId,
    providerId: preauth.providerId,
    model: preauth.model,
    status: STATUS[preauth.status],
    heldMicros: preauth.heldMicros,
    estimatedCostMicros: preauth.estimatedCostMicros,
    capturedCostMicros: preauth.capturedCostMicros ?? 0n,
    priceVersion: preauth.priceVersion,
    createdAt: preauth.createdAt,
    expiresAt: preauth.expiresAt,
  };
}

/**
 * heidrun.v1.PreAuthService. Holds live in Postgres (packages/db preauths.ts); this file prices, counts and
 * maps. docs/preauth.md has the lifecycle and each call's effect on balance, held and available.
 */
export function createPreAuthHandlers(deps: PreAuthDeps): PreAuthHandlers {
  return {
    async preAuthorize(request, ctx) {
      const settings = deps.config.current().settings;
      const ttlSeconds = ttlOf(request, settings.preauth);
      const price = deps.priceCache.resolve(request.providerId, request.model, new Date());
      const inputTokens = await inputTokensOf(deps, request);
      const estimate = estimatePreAuth(
        inputTokens,
        request.maxOutputTokens,
        price,
        settings.roundingIncrementMicros,
      );
      const { preauth } = await authorizeHold(deps.db, {
        requestId: request.requestId,
        fingerprint: hashedFingerprint({
          accountId: request.accountId,
          providerId: request.providerId,
          model: request.model,
          estimatedInputTokens: request.estimatedInputTokens,
          maxOutputTokens: request.maxOutputTokens,
          promptText: request.promptText,
          messages: request.messages.map((m) => ({ role: m.role, content: m.content, name: m.name })),
          ttlSeconds: request.ttlSeconds,
        }),
        accountId: request.accountId,
        providerId: request.providerId,
        model: request.model,
        estimatedCostMicros: estimate.totalCostMicros,
        estimatedInputTokens: inputTokens,
        maxOutputTokens: request.maxOutputTokens,
        priceVersion: price.version,
        priceVersionId: price.id,
        ttlSeconds,
        actor: actorOf(ctx),
      });
      const decline = preauth.declineReason;
      return {
        requestId: preauth.requestId,
        preauthId: preauth.preauthId,
        authorized: decline === null,
        estimatedCostMicros: preauth.estimatedCostMicros,
        availableMicros: preauth.availableMicros,
        expiresAt: decline === null ? preauth.expiresAt : undefined,
        declineReason: decline === null ? DeclineReason.DECLINE_REASON_UNSPECIFIED : DECLINE[decline],
        priceVersion: preauth.priceVersion,
      };
    },

    async capturePreAuth(request, ctx) {
      const usage = request.usage;
      if (usage === undefined) throw DomainError.invalid("usage", "is required");
      const actor = actorOf(ctx);
      const found = await getPreauth(deps.db, request.preauthId);
      if (!found) throw DomainError.notFound(`pre-authorization ${request.preauthId} not found`);
      // A repeat answers from the row without pricing; a first capture prices with the pinned version.
      const isRepeat = found.captureRequestId === request.requestId;
      if (!isRepeat) applyPreAuthAction("capture", found.status);
      const cost = isRepeat
        ? (found.capturedCostMicros ?? 0n)
        : calculateCost(
            usage,
            await pinnedPrice(deps, found),
            deps.config.current().settings.roundingIncrementMicros,
          ).totalCostMicros;
      const { preauth } = await captureHold(deps.db, {
        requestId: request.requestId,
        preauthId: request.preauthId,
        usage,
        capturedCostMicros: cost,
        actor,
      });
      // Recorded in Postgres first; queued after. A repeat queues again: a no-op if the job exists, and the
      // cure for an enqueue lost after the commit.
      await queueSettlement(deps, preauth, request.requestId, actor);
      return {
        requestId: request.requestId,
        preauthId: preauth.preauthId,
        status: PreAuthStatus.PRE_AUTH_STATUS_CAPTURED,
        capturedCostMicros: preauth.capturedCostMicros ?? 0n,
        releasedMicros: preauth.releasedMicros ?? 0n,
      };
    },

    async cancelPreAuth(request, ctx) {
      const { preauth } = await cancelHold(deps.db, {
        requestId: request.requestId,
        preauthId: request.preauthId,
        reason: request.reason,
        actor: actorOf(ctx),
      });
      return {
        requestId: request.requestId,
        preauthId: preauth.preauthId,
        status: PreAuthStatus.PRE_AUTH_STATUS_CANCELLED,
        releasedMicros: preauth.releasedMicros ?? 0n,
      };
    },

    async getPreAuth(request, _ctx) {
      const preauth = await getPreauth(deps.db, request.preauthId);
      if (!preauth) throw DomainError.notFound(`pre-authorization ${request.preauthId} not found`);
      return { preauth: toPreAuth(preauth) };
    },
  };
}
