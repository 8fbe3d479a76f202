import type { Usage } from "@heidrun/core";
import { z } from "zod";

/** The one queue that carries usage to the settlement workers. */
export const SETTLEMENT_QUEUE = "settlements";

const decimal = z.string().regex(/^(0|[1-9]\d{0,18})$/, "must be a non-negative decimal integer");
const id = z.string().min(1).max(128);

/** Token counts travel as decimal strings: JSON cannot hold a bigint. */
export const usagePayload = z.object({
  inputTokens: decimal,
  outputTokens: decimal,
  cachedInputTokens: decimal,
  cacheWriteTokens: decimal,
});
export type UsagePayload = z.infer<typeof usagePayload>;

const traceCarrier = z.record(z.string(), z.string()).optional();

/**
 * Job name → payload schema. Every job settles one usage under its request_id; the worker validates the
 * payload again, so a malformed job fails visibly instead of settling wrong.
 */
export const JOB_CATALOG = {
  /** Post-paid usage from TrackTokens / TrackTokensBatch, priced at occurred_at. */
  "track-usage": z.object({
    requestId: id,
    accountId: id,
    providerId: id,
    model: z.string().min(1).max(256),
    usage: usagePayload,
    occurredAt: z.iso.datetime(),
    actor: z.string().min(1),
    trace: traceCarrier,
  }),
  /** A captured pre-authorization, priced at the version pinned when it was authorized. */
  "settle-capture": z.object({
    requestId: id,
    preauthId: id,
    actor: z.string().min(1),
    trace: traceCarrier,
  }),
} as const;

export type JobName = keyof typeof JOB_CATALOG;
export type JobPayload<N extends JobName> = z.infer<(typeof JOB_CATALOG)[N]>;
export type AnyJob = { [N in JobName]: { name: N; data: JobPayload<N> } }[JobName];

export function parseJob<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return JOB_CATALOG[name].parse(data) as JobPayload<N>;
}

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOB_CATALOG, name);
}

/**
 * BullMQ forbids `:` in custom job ids; request ids allow it but never `~`, so swapping one for the other
 * keeps ids unique. The job id is what makes a repeated enqueue of the same request a no-op.
 */
export function jobIdFor(requestId: string): string {
  return `req~${requestId.replaceAll(":", "~")}`;
}

export function requestIdOfJob(jobId: string): string {
  return jobId.slice(4).replaceAll("~", ":");
}

export function usageToPayload(usage: Usage): UsagePayload {
  return {
    inputTokens: usage.inputTokens.toString(),
    outputTokens: usage.outputTokens.toString(),
    cachedInputTokens: usage.cachedInputTokens.toString(),
    cacheWriteTokens: usage.cacheWriteTokens.toString(),
  };
}

export function usageFromPayload(payload: UsagePayload): Usage {
  return {
    inputTokens: BigInt(payload.inputTokens),
    outputTokens: BigInt(payload.outputTokens),
    cachedInputTokens: BigInt(payload.cachedInputTokens),
    cacheWriteTokens: BigInt(payload.cacheWriteTokens),
  };
}
