import { DomainError } from "@heidrun/core";
import { type JobsOptions, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { type AnyJob, jobIdFor, SETTLEMENT_QUEUE } from "./catalog";
import type { QueueConnection } from "./connection";
import { redisFailure } from "./errors";

export interface ProducerSettings {
  attempts: number;
  backoffMs: number;
  keepCompletedSeconds: number;
  keepFailedSeconds: number;
  idempotencyWindowSeconds: number;
}

export interface EnqueueItem {
  requestId: string;
  /** Canonical text of the request's arguments: a repeat with another fingerprint is a conflict. */
  fingerprint: string;
  job: AnyJob;
  /** Field path of this item's request_id, for the conflict error (`items[3].request_id`). */
  field?: string;
}

export interface EnqueueOutcome {
  requestId: string;
  duplicate: boolean;
}

const PENDING = "p|";
const QUEUED = "q|";

/**
 * Queues settlement jobs and answers repeats within the idempotency window. A request id is first claimed as
 * "pending", then marked "queued" once Redis has acknowledged the job; a repeat that finds it still pending
 * queues it again (a no-op when the job exists, since the job id is the request id), so an enqueue that died
 * half-way is never answered as done.
 */
export class SettlementProducer {
  readonly queue: Queue;
  readonly #redis: QueueConnection;
  readonly #prefix: string;
  readonly #settings: () => ProducerSettings;

  constructor(options: { connection: QueueConnection; prefix: string; settings: () => ProducerSettings }) {
    this.#redis = options.connection;
    this.#prefix = options.prefix;
    this.#settings = options.settings;
    this.queue = new Queue(SETTLEMENT_QUEUE, { connection: options.connection, prefix: options.prefix });
    this.queue.on("error", () => {});
  }

  idempotencyKey(requestId: string): string {
    return `${this.#prefix}:idem:${requestId}`;
  }

  jobOptions(requestId: string): JobsOptions {
    const s = this.#settings();
    return {
      jobId: jobIdFor(requestId),
      attempts: s.attempts,
      backoff: { type: "exponential", delay: s.backoffMs },
      removeOnComplete: { age: s.keepCompletedSeconds },
      removeOnFail: { age: s.keepFailedSeconds },
    };
  }

  /** Queues every new item in one `addBulk`; all items or none (a conflict rejects the whole call). */
  async enqueue(items: readonly EnqueueItem[]): Promise<EnqueueOutcome[]> {
    if (items.length === 0) return [];
    const window = this.#settings().idempotencyWindowSeconds;
    const claim = this.#redis.pipeline();
    for (const item of items) {
      claim.set(this.idempotencyKey(item.requestId), PENDING + item.fingerprint, "EX", window, "NX", "GET");
    }
    const previous = (await this.#run(claim, "idempotency check")) as (string | null)[];

    const conflict = items.findIndex((item, i) => {
      const before = previous[i];
      return before != null && before.slice(2) !== item.fingerprint;
    });
    const seenInCall = new Set<string>();
    const toQueue: EnqueueItem[] = [];
    items.forEach((item, i) => {
      const before = previous[i];
      if (seenInCall.has(item.requestId)) return;
      seenInCall.add(item.requestId);
      if (before == null || before.startsWith(PENDING)) toQueue.push(item);
    });

    if (conflict >= 0) {
      const claimed = items
        .filter((_, i) => previous[i] == null)
        .map((item) => this.idempotencyKey(item.requestId));
      if (claimed.length) await this.#redis.del(...claimed).catch(() => {});
      const item = items[conflict]!;
      throw new DomainError(
        "ALREADY_EXISTS",
        `request_id ${item.requestId} was already used with different arguments`,
        { field: item.field ?? "request_id" },
      );
    }

    if (toQueue.length) {
      try {
        await this.queue.addBulk(
          toQueue.map((item) => ({
            name: item.job.name,
            data: item.job.data,
            opts: this.jobOptions(item.requestId),
          })),
        );
      } catch (error) {
        throw redisFailure(error, "enqueue");
      }
      const mark = this.#redis.pipeline();
      for (const item of toQueue) {
        mark.set(this.idempotencyKey(item.requestId), QUEUED + item.fingerprint, "KEEPTTL", "XX");
      }
      // Sent, not awaited: the jobs are stored, so the call can be answered now. A later repeat's claim goes
      // out on the same connection after these commands and finds "queued"; and if they are lost, a key left
      // "pending" only makes a repeat queue the same job id again, which BullMQ ignores.
      mark.exec().catch(() => undefined);
    }

    // The pipeline runs in order, so a request id repeated inside one call sees its own claim.
    return items.map((item, i) => ({ requestId: item.requestId, duplicate: previous[i] != null }));
  }

  /** Queues jobs whose idempotency lives in Postgres (captures, reruns, reconcile): the job id dedupes. */
  async enqueueWithoutWindow(jobs: readonly { requestId: string; job: AnyJob }[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      await this.queue.addBulk(
        jobs.map(({ requestId, job }) => ({
          name: job.name,
          data: job.data,
          opts: this.jobOptions(requestId),
        })),
      );
    } catch (error) {
      throw redisFailure(error, "enqueue");
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  async #run(pipeline: ReturnType<Redis["pipeline"]>, what: string): Promise<unknown[]> {
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      throw redisFailure(error, what);
    }
    if (!results) throw redisFailure(new Error("pipeline aborted"), what);
    return results.map(([error, value]) => {
      if (error) throw redisFailure(error, what);
      return value;
    });
  }
}
