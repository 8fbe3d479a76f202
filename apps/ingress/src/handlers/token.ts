import { requestFingerprint } from "@heidrun/core";
import { aggregateUsage, type UsageGranularity, type UsageGroupBy } from "@heidrun/db";
import {
  Granularity,
  GroupBy,
  type TokenAggregate,
  type TrackTokensRequest,
  type TrackTokensResponse,
} from "@heidrun/proto";
import { type EnqueueItem, usageToPayload } from "@heidrun/queue";
import type { CallContext, IngressDeps, TokenHandlers } from "../context";

/**
 * heidrun.v1.TokenService (proto/heidrun/v1/token.proto has each method's behaviour).
 *
 * Contract for implementers: each method is `async (request, ctx) => response`. The request is the ts-proto
 * message, already authenticated and validated by validation.ts (int64 fields are bigint, timestamps Date);
 * `ctx` is a CallContext (context.ts): `{ requestId?, principal: { keyId, scope }, deadline?, log, signal }`.
 * Return the response message, or throw a DomainError from @heidrun/core: its code becomes the gRPC status
 * (INVALID_ARGUMENT with `field` also carries a google.rpc.BadRequest). Anything else thrown is reported to the
 * caller as INTERNAL without its text, and logged with its stack.
 */
export function createTokenHandlers(deps: IngressDeps): TokenHandlers {
  const track = (items: readonly TrackTokensRequest[], ctx: CallContext, prefix: string) =>
    trackUsage(deps, items, ctx, prefix);
  return {
    async countTokens(request) {
      const { providerId, model } = request;
      const count = (input: { text: string } | { messages: typeof request.messages }) =>
        deps.tokenCounter.countTokens({ providerId, model, ...input });
      // Counts the caller already knows are taken as given (and exact); text is counted with the model's tokenizer.
      const input =
        request.inputText !== ""
          ? await count({ text: request.inputText })
          : request.messages.length > 0
            ? await count({ messages: request.messages })
            : undefined;
      const output = request.outputText !== "" ? await count({ text: request.outputText }) : undefined;
      const tokenizer = input ?? output ?? (await count({ text: "" }));
      const inputTokens = input?.tokens ?? request.inputTokens;
      const outputTokens = output?.tokens ?? request.outputTokens;
      return {
        requestId: request.requestId,
        inputTokens,
        outputTokens,
        totalTokens: inputTokens + outputTokens,
        tokenizer: tokenizer.tokenizer,
        exact: (input?.exact ?? true) && (output?.exact ?? true),
      };
    },
    async trackTokens(request, ctx) {
      const [result] = await track([request], ctx, "");
      return result!;
    },
    async trackTokensBatch(request, ctx) {
      return { results: await track(request.items, ctx, "items") };
    },
    async aggregateTokens(request) {
      const rows = await aggregateUsage(deps.db, {
        providerId: request.providerId || undefined,
        accountId: request.accountId || undefined,
        model: request.model || undefined,
        from: request.from,
        to: request.to,
        granularity: GRANULARITIES[request.granularity] ?? "all",
        groupBy: request.groupBy.flatMap((g) => GROUP_BYS[g] ?? []),
      });
      return {
        rows: rows.map((row): TokenAggregate => {
          const totalTokens = row.inputTokens + row.outputTokens;
          return {
            bucketStart: row.bucketStart,
            providerId: row.providerId,
            accountId: row.accountId,
            model: row.model,
            requestCount: row.requestCount,
            inputTokens: row.inputTokens,
            outputTokens: row.outputTokens,
            cachedInputTokens: row.cachedInputTokens,
            totalTokens,
            avgTokensPerRequest: row.requestCount > 0n ? totalTokens / row.requestCount : 0n,
            totalCostMicros: row.totalCostMicros,
          };
        }),
      };
    },
  };
}

const GRANULARITIES: Partial<Record<Granularity, UsageGranularity>> = {
  [Granularity.GRANULARITY_UNSPECIFIED]: "all",
  [Granularity.GRANULARITY_HOUR]: "hour",
  [Granularity.GRANULARITY_DAY]: "day",
  [Granularity.GRANULARITY_MONTH]: "month",
};

const GROUP_BYS: Partial<Record<GroupBy, UsageGroupBy>> = {
  [GroupBy.GROUP_BY_PROVIDER]: "provider",
  [GroupBy.GROUP_BY_ACCOUNT]: "account",
  [GroupBy.GROUP_BY_MODEL]: "model",
};

/**
 * TrackTokens and TrackTokensBatch (validated already: ids, usage, occurred_at at most 5 minutes ahead, batch
 * size): one producer call, so the whole batch is one idempotency round trip and one addBulk, answered only once
 * Redis acknowledged it. A repeat inside the window answers duplicate; with other arguments, ALREADY_EXISTS
 * naming the item. occurred_at defaults to now, but an unset one stays unset in the fingerprint, so a
 * retried call without it is still the same request.
 */
async function trackUsage(
  deps: IngressDeps,
  items: readonly TrackTokensRequest[],
  ctx: CallContext,
  prefix: string,
): Promise<TrackTokensResponse[]> {
  const now = new Date();
  const actor = ctx.principal.keyId;
  const queued = items.map((item, index): EnqueueItem => {
    const usage = item.usage!;
    const plainUsage = {
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cachedInputTokens: usage.cachedInputTokens,
      cacheWriteTokens: usage.cacheWriteTokens,
    };
    return {
      requestId: item.requestId,
      fingerprint: requestFingerprint({
        accountId: item.accountId,
        providerId: item.providerId,
        model: item.model,
        usage: plainUsage,
        occurredAt: item.occurredAt ?? null,
      }),
      field: prefix ? `${prefix}[${index}].request_id` : "request_id",
      job: {
        name: "track-usage",
        data: {
          requestId: item.requestId,
          accountId: item.accountId,
          providerId: item.providerId,
          model: item.model,
          usage: usageToPayload(plainUsage),
          occurredAt: (item.occurredAt ?? now).toISOString(),
          actor,
        },
      },
    };
  });
  const outcomes = await deps.producer.enqueue(queued);
  return outcomes.map((outcome) => ({
    requestId: outcome.requestId,
    accepted: true,
    duplicate: outcome.duplicate,
  }));
}
