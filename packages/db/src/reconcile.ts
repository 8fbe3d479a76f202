import type { AnyJob } from "@heidrun/queue";
import { sql } from "drizzle-orm";
import type { DbOrTx } from "./pool";
import { findFailedUsageJobs } from "./reconcile-failed-jobs";
import type { JobPresence, RequeueItem, RequeueOutcome, SettlementRequeuer } from "./rerun-queue";
import {
  cursorOf,
  databaseNow,
  type FailedCursor,
  requeueItemOf,
  selectFailedPage,
  utcMillisText,
} from "./rerun-select";

export * from "./reconcile-runner";

export type ReconcileKind =
  | "capture_unsettled"
  | "usage_unsettled"
  | "failed_without_job"
  | "usage_failed_job";

export interface ReconcileOptions {
  /** BullMQ keeps failed jobs this long (settings.queue.keepFailedSeconds): older FAILED rows lost theirs by design. */
  keepFailedSeconds: number;
  /** Only what is at least this old: a capture whose job is being added right now is not lost. Default 60 s. */
  minAgeMs?: number;
  /** How far back captures and usage are checked for a settlement. Default 7 days. */
  lookbackMs?: number;
  /** Report what was found and queue nothing. */
  dryRun?: boolean;
  /** Recorded on the jobs (and so on their audit events). Default `reconcile`. */
  actor?: string;
  /** At most this many findings of each kind per run. Default 10,000. */
  maxPerKind?: number;
  /** At most this many entries of BullMQ's failed set are read per run, newest first. Default 10,000. */
  maxFailedJobsScanned?: number;
  pageSize?: number;
}

export interface ReconcileFinding {
  kind: ReconcileKind;
  requestId: string;
  preauthId: string | null;
  /** What was done; `found` in a dry run. */
  action: Exclude<RequeueOutcome, "skipped" | "in_flight"> | "found";
}

export interface ReconcileReport {
  findings: ReconcileFinding[];
  /** When the run looked (database clock). */
  at: Date;
}

interface UnsettledRow extends Record<string, unknown> {
  request_id: string;
  preauth_id: string | null;
  account_id: string | null;
  provider_id: string | null;
  model: string | null;
  input_tokens: bigint | null;
  output_tokens: bigint | null;
  cached_input_tokens: bigint | null;
  cache_write_tokens: bigint | null;
  occurred_at: string | null;
}

/** Captured pre-auths whose capture has no settlement row: the settle-capture job was lost or gave up. */
function unsettledCaptures(db: DbOrTx, from: Date, to: Date, after: string, limit: number) {
  return db.execute<UnsettledRow>(sql`
    SELECT p.capture_request_id AS request_id, p.preauth_id, NULL AS account_id, NULL AS provider_id,
      NULL AS model, NULL::bigint AS input_tokens, NULL::bigint AS output_tokens,
      NULL::bigint AS cached_input_tokens, NULL::bigint AS cache_write_tokens, NULL AS occurred_at
    FROM preauths p
    WHERE p.status = 'captured' AND p.capture_request_id > ${after}
      AND p.captured_at >= ${from.toISOString()}::timestamptz AND p.captured_at < ${to.toISOString()}::timestamptz
      AND NOT EXISTS (SELECT 1 FROM settlements s WHERE s.request_id = p.capture_request_id)
    ORDER BY p.capture_request_id LIMIT ${limit}`);
}

/** Usage rows without a settlement row (the worker writes both in one transaction, so this is rare). */
function unsettledUsage(db: DbOrTx, from: Date, to: Date, after: string, limit: number) {
  return db.execute<UnsettledRow>(sql`
    SELECT u.request_id, u.preauth_id, u.account_id, u.provider_id, u.model, u.input_tokens, u.output_tokens,
      u.cached_input_tokens, u.cache_write_tokens, ${utcMillisText("u.occurred_at")} AS occurred_at
    FROM usage_events u
    WHERE u.request_id > ${after} AND u.occurred_at >= ${from.toISOString()}::timestamptz
      AND u.recorded_at < ${to.toISOString()}::timestamptz
      AND NOT EXISTS (SELECT 1 FROM settlements s WHERE s.request_id = u.request_id)
    ORDER BY u.request_id LIMIT ${limit}`);
}

function jobOfUnsettled(row: UnsettledRow, actor: string): AnyJob {
  if (row.preauth_id !== null) {
    return { name: "settle-capture", data: { requestId: row.request_id, preauthId: row.preauth_id, actor } };
  }
  return {
    name: "track-usage",
    data: {
      requestId: row.request_id,
      accountId: row.account_id!,
      providerId: row.provider_id!,
      model: row.model!,
      usage: {
        inputTokens: row.input_tokens!.toString(),
        outputTokens: row.output_tokens!.toString(),
        cachedInputTokens: row.cached_input_tokens!.toString(),
        cacheWriteTokens: row.cache_write_tokens!.toString(),
      },
      occurredAt: row.occurred_at!,
      actor,
    },
  };
}

interface Sweep {
  kind: ReconcileKind;
  /** A page of candidates after the cursor; undefined cursor: the first page. */
  page(
    after: unknown,
    limit: number,
  ): Promise<{ items: RequeueItem[]; preauthIds: (string | null)[]; next: unknown }>;
  /** Which job presences count as lost. */
  lost(presence: JobPresence): boolean;
}

async function runSweep(
  sweep: Sweep,
  requeuer: SettlementRequeuer,
  options: Required<Pick<ReconcileOptions, "dryRun" | "maxPerKind" | "pageSize">>,
  findings: ReconcileFinding[],
): Promise<void> {
  let cursor: unknown;
  let found = 0;
  while (found < options.maxPerKind) {
    const { items, preauthIds, next } = await sweep.page(cursor, options.pageSize);
    if (items.length === 0) return;
    cursor = next;
    const presence = await requeuer.presence(items);
    const lost = items.flatMap((item, i) => (sweep.lost(presence[i]!) ? [{ item, i }] : []));
    const take = lost.slice(0, options.maxPerKind - found);
    found += take.length;
    const outcomes = options.dryRun
      ? take.map(() => "found" as const)
      : await requeuer.requeue(
          take.map(({ item }) => item),
          sweep.lost,
        );
    take.forEach(({ item, i }, k) => {
      const action = outcomes[k]!;
      // A job that appeared meanwhile (the producer was just slow) is not lost after all.
      if (action === "skipped" || action === "in_flight") return;
      findings.push({ kind: sweep.kind, requestId: item.requestId, preauthId: preauthIds[i]!, action });
    });
    if (items.length < options.pageSize) return;
  }
}

/**
 * `heidrun settlements reconcile` and the worker's periodic reconciler: finds settlements whose job is gone
 * (Redis lost it, or it gave up) and queues them again. Captures are durable in their pre-auth row and usage in
 * usage_events, so each is found from Postgres: captured pre-auths with no settlement, usage with no
 * settlement, and FAILED rows whose failed job BullMQ should still keep but does not. Post-paid usage whose job
 * gave up while PostgreSQL was down is found in BullMQ's failed set (findFailedUsageJobs) and retried in place.
 * Requeueing is idempotent (job ids; the worker's conditional UPDATE), so several reconcilers may run at once.
 */
export async function reconcileSettlements(
  db: DbOrTx,
  requeuer: SettlementRequeuer,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const at = await databaseNow(db);
  const actor = options.actor ?? "reconcile";
  const before = new Date(at.getTime() - (options.minAgeMs ?? 60_000));
  const from = new Date(at.getTime() - (options.lookbackMs ?? 7 * 86_400_000));
  const failedSince = new Date(at.getTime() - options.keepFailedSeconds * 1000);
  const run = {
    dryRun: options.dryRun === true,
    maxPerKind: options.maxPerKind ?? 10_000,
    pageSize: options.pageSize ?? 500,
  };
  const unsettledSweep = (kind: ReconcileKind, query: typeof unsettledCaptures): Sweep => ({
    kind,
    async page(after, limit) {
      const rows = (await query(db, from, before, (after as string | undefined) ?? "", limit)).rows;
      return {
        items: rows.map((row) => ({
          requestId: row.request_id,
          attempts: 0,
          job: jobOfUnsettled(row, actor),
        })),
        preauthIds: rows.map((row) => row.preauth_id),
        next: rows[rows.length - 1]?.request_id,
      };
    },
    // No settlement row: a job that failed for good is as stuck as a lost one.
    lost: (presence) => presence.state !== "in_flight",
  });
  const findings: ReconcileFinding[] = [];
  await runSweep(unsettledSweep("capture_unsettled", unsettledCaptures), requeuer, run, findings);
  await runSweep(unsettledSweep("usage_unsettled", unsettledUsage), requeuer, run, findings);
  const failedSweep: Sweep = {
    kind: "failed_without_job",
    async page(after, limit) {
      const rows = await selectFailedPage(db, { since: failedSince }, before, after as FailedCursor, limit);
      return {
        items: rows.map((row) => requeueItemOf(row, actor)),
        preauthIds: rows.map((row) => row.preauth_id),
        next: rows.length ? cursorOf(rows[rows.length - 1]!) : after,
      };
    },
    // A FAILED row with its failed job is waiting for an operator's rerun, not lost.
    lost: (presence) => presence.state === "absent",
  };
  await runSweep(failedSweep, requeuer, run, findings);

  const failedJobs = await findFailedUsageJobs(db, requeuer, {
    from,
    before,
    maxScanned: options.maxFailedJobsScanned ?? 10_000,
    maxFound: run.maxPerKind,
    pageSize: run.pageSize,
  });
  const retried = run.dryRun
    ? failedJobs.map(() => "found" as const)
    : await requeuer.retryFailed(failedJobs.map((job) => job.jobId));
  failedJobs.forEach((job, i) => {
    const action = retried[i]!;
    if (action === "skipped" || action === "in_flight") return;
    findings.push({ kind: "usage_failed_job", requestId: job.requestId, preauthId: null, action });
  });
  return { findings, at };
}
