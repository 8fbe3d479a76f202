import { validateId, validateModel, validateUsage } from "@heidrun/core";
import type { SettleItem } from "@heidrun/db";
import { isJobName, JOB_CATALOG, type JobName, type JobPayload, usageFromPayload } from "@heidrun/queue";
import { UnrecoverableError } from "bullmq";

/** Job name → what its payload settles. The payload was parsed with the job's zod schema first. */
const TO_SETTLE_ITEM: { [N in JobName]: (data: JobPayload<N>) => SettleItem } = {
  "track-usage": (data) => {
    const usage = usageFromPayload(data.usage);
    validateId(data.requestId, "requestId");
    validateId(data.accountId, "accountId");
    validateId(data.providerId, "providerId");
    validateModel(data.model, "model", { allowDefault: false });
    validateUsage(usage, "usage");
    return {
      kind: "usage",
      requestId: data.requestId,
      accountId: data.accountId,
      providerId: data.providerId,
      model: data.model,
      usage,
      occurredAt: new Date(data.occurredAt),
      actor: data.actor,
    };
  },
  "settle-capture": (data) => {
    validateId(data.requestId, "requestId");
    validateId(data.preauthId, "preauthId");
    return { kind: "capture", requestId: data.requestId, preauthId: data.preauthId, actor: data.actor };
  },
};

function describe(error: unknown): string {
  if (error && typeof error === "object" && "issues" in error && Array.isArray(error.issues)) {
    return error.issues
      .map(
        (issue: { path?: unknown[]; message?: string }) =>
          `${(issue.path ?? []).join(".") || "(root)"}: ${issue.message}`,
      )
      .join("; ");
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * A job as the batch writer takes it. A job no retry can fix (unknown name, a payload its schema or the
 * domain rules reject) fails at once with UnrecoverableError naming what is wrong, before it joins a batch.
 */
export function settleItemOfJob(name: string, data: unknown): SettleItem {
  if (!isJobName(name)) throw new UnrecoverableError(`unknown job name ${JSON.stringify(name)}`);
  let item: SettleItem;
  try {
    const payload = JOB_CATALOG[name].parse(data);
    item = (TO_SETTLE_ITEM[name] as (payload: unknown) => SettleItem)(payload);
  } catch (error) {
    throw new UnrecoverableError(`invalid ${name} job: ${describe(error)}`);
  }
  return item;
}
