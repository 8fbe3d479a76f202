import { type AnyJob, jobIdFor, redisFailure, type SettlementProducer } from "@heidrun/queue";

/**
 * The job id of the k-th requeue of a request; 0 is the original job (jobIdFor). A new id per rerun matters:
 * BullMQ ignores an add whose id it still keeps (the old job sits in the failed set for keepFailedSeconds).
 * `~` never occurs in a request id, so these ids cannot collide with another request's.
 */
export function rerunJobId(requestId: string, attempt: number): string {
  return attempt === 0 ? jobIdFor(requestId) : `${jobIdFor(requestId)}~r${attempt}`;
}

/** Ids a request's jobs may have: the original and the reruns up to `attempts`, newest last (older reruns are long gone). */
function candidateJobIds(requestId: string, attempts: number): { attempt: number; jobId: string }[] {
  const newest = Math.max(attempts, 0);
  const oldest = Math.max(1, newest - 15);
  const ids = [{ attempt: 0, jobId: rerunJobId(requestId, 0) }];
  for (let k = oldest; k <= newest; k++) ids.push({ attempt: k, jobId: rerunJobId(requestId, k) });
  return ids;
}

export interface RequeueItem {
  requestId: string;
  /**
   * settlements.attempts of a FAILED row (how often it failed; the next rerun job is `~r<attempts>`), or 0 for
   * a request that has no settlement row yet (it is queued under its original job id again).
   */
  attempts: number;
  job: AnyJob;
}

/** Where a request's jobs are: one waiting or running, one failed (retry it), or none BullMQ still keeps. */
export type JobPresence =
  | { state: "in_flight"; jobId: string }
  | { state: "failed"; jobId: string }
  | { state: "absent"; nextJobId: string };

/** A settlement job in BullMQ's failed set, as the reconciler judges it. */
export interface FailedSettlementJob {
  jobId: string;
  name: string;
  requestId: string;
  /** When it failed (ms since the epoch). */
  finishedOn: number;
  /**
   * It failed for a reason a later run may not have: its retries ran out, or its workers died under it more
   * often than BullMQ allows. A job failed by UnrecoverableError (a bad payload) at an earlier attempt is not.
   */
  retriesExhausted: boolean;
}

const STALL_LIMIT_REASON = "job stalled more than allowable limit";

/** added: a new job; retried: the failed job moved back to waiting; in_flight: a job was already queued; skipped: not wanted. */
export type RequeueOutcome = "added" | "retried" | "in_flight" | "skipped";

const IN_FLIGHT_STATES: ReadonlySet<string> = new Set([
  "waiting",
  "active",
  "delayed",
  "prioritized",
  "waiting-children",
]);

/**
 * Puts settlement jobs back on the queue through the producer's BullMQ queue and job options. Requeueing is
 * safe to repeat and to race: the worker settles a FAILED row with a conditional UPDATE (… WHERE status =
 * 'failed'), so however many jobs run for one request, one settles it and the others find it settled.
 */
export class SettlementRequeuer {
  readonly #producer: Pick<SettlementProducer, "queue" | "jobOptions">;

  constructor(producer: Pick<SettlementProducer, "queue" | "jobOptions">) {
    this.#producer = producer;
  }

  async presence(items: readonly Pick<RequeueItem, "requestId" | "attempts">[]): Promise<JobPresence[]> {
    const queue = this.#producer.queue;
    const candidates = items.map((item) => candidateJobIds(item.requestId, item.attempts));
    let states: string[][];
    try {
      // ioredis pipelines concurrent commands on one connection, so a page costs a few round trips.
      states = await Promise.all(
        candidates.map((ids) => Promise.all(ids.map(({ jobId }) => queue.getJobState(jobId)))),
      );
    } catch (error) {
      throw redisFailure(error, "inspect settlement jobs");
    }
    return items.map((item, i) => {
      const ids = candidates[i]!;
      const found = states[i]!;
      const inFlight = ids.findIndex((_, k) => IN_FLIGHT_STATES.has(found[k]!));
      if (inFlight >= 0) return { state: "in_flight", jobId: ids[inFlight]!.jobId };
      const failed = found.lastIndexOf("failed");
      if (failed >= 0) return { state: "failed", jobId: ids[failed]!.jobId };
      const kept = ids.filter((_, k) => found[k] !== "unknown").map(({ attempt }) => attempt);
      const next = Math.max(item.attempts, kept.length ? Math.max(...kept) + 1 : 0);
      return { state: "absent", nextJobId: rerunJobId(item.requestId, next) };
    });
  }

  /**
   * Requeues each item whose presence `wanted` accepts (default: all): a failed job is retried (it moves back
   * to waiting with its attempts reset), a request with no job gets a new one, one already queued is left alone.
   */
  async requeue(
    items: readonly RequeueItem[],
    wanted: (presence: JobPresence) => boolean = () => true,
  ): Promise<RequeueOutcome[]> {
    if (items.length === 0) return [];
    const presence = await this.presence(items);
    const outcomes: RequeueOutcome[] = items.map(() => "skipped");
    const additions: { index: number; jobId: string }[] = [];
    const retries: Promise<void>[] = [];
    presence.forEach((p, index) => {
      if (!wanted(p)) return;
      if (p.state === "in_flight") outcomes[index] = "in_flight";
      else if (p.state === "failed")
        retries.push(
          this.#retry(p.jobId).then((outcome) => {
            outcomes[index] = outcome;
          }),
        );
      else additions.push({ index, jobId: p.nextJobId });
    });
    if (additions.length) {
      try {
        // A concurrent rerun that picked the same new id is deduplicated by BullMQ: one job, not two.
        await this.#producer.queue.addBulk(
          additions.map(({ index, jobId }) => {
            const item = items[index]!;
            return {
              name: item.job.name,
              data: item.job.data,
              opts: { ...this.#producer.jobOptions(item.requestId), jobId },
            };
          }),
        );
      } catch (error) {
        throw redisFailure(error, "requeue settlements");
      }
      for (const { index } of additions) outcomes[index] = "added";
    }
    await Promise.all(retries);
    return outcomes;
  }

  /** A page of BullMQ's failed set, newest first: the settlement jobs among `count` entries from `start`. */
  async failedJobs(start: number, count: number): Promise<{ jobs: FailedSettlementJob[]; scanned: number }> {
    const page = await this.#producer.queue.getFailed(start, start + count - 1).catch((error: unknown) => {
      throw redisFailure(error, "read failed settlement jobs");
    });
    const jobs: FailedSettlementJob[] = [];
    for (const job of page) {
      const requestId = (job.data as { requestId?: unknown } | undefined)?.requestId;
      if (job.id === undefined || typeof requestId !== "string") continue;
      jobs.push({
        jobId: job.id,
        name: job.name,
        requestId,
        finishedOn: job.finishedOn ?? 0,
        retriesExhausted:
          job.attemptsMade >= (job.opts.attempts ?? 1) || job.failedReason === STALL_LIMIT_REASON,
      });
    }
    return { jobs, scanned: page.length };
  }

  /** Moves failed jobs back to waiting with their attempts reset (one already moved by a concurrent run: in_flight). */
  retryFailed(jobIds: readonly string[]): Promise<RequeueOutcome[]> {
    return Promise.all(jobIds.map((jobId) => this.#retry(jobId)));
  }

  async #retry(jobId: string): Promise<RequeueOutcome> {
    const queue = this.#producer.queue;
    try {
      const job = await queue.getJob(jobId);
      if (!job) return "skipped";
      await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
      return "retried";
    } catch (error) {
      // A concurrent rerun retried it first (the job is no longer in the failed set): it is queued, once.
      const state = await queue.getJobState(jobId).catch(() => {
        throw redisFailure(error, "retry a failed settlement job");
      });
      if (IN_FLIGHT_STATES.has(state) || state === "completed") return "in_flight";
      throw redisFailure(error, "retry a failed settlement job");
    }
  }
}
