import { isDomainError } from "@heidrun/core";
import type { Db, SettleItem, SettleOptions, SettleOutcome } from "@heidrun/db";
import { recordSettlementFailure, settleBatch } from "@heidrun/db";
import type { Logger } from "@heidrun/observability";
import type { BatchResult } from "@heidrun/queue";

/** A failure a later attempt may not meet (connection lost, serialization failure, deadlock, timeout). */
export class TransientSettleError extends Error {
  override readonly name = "TransientSettleError";
}

/** Called after a batch committed, before its jobs are answered. Tests use it to die at the worst moment. */
export type AfterCommitHook = (items: readonly SettleItem[], outcomes: readonly SettleOutcome[]) => unknown;

export interface SettleRunnerOptions {
  db: Db;
  log: Logger;
  /** Read per batch, so a settings reload (commission, rounding) applies to the next batch. */
  options: () => SettleOptions;
  afterCommit?: AfterCommitHook;
}

// SQLSTATE classes worth another attempt: connection (08), rollback (40: serialization, deadlock), resources
// (53), operator intervention (57: shutdown, statement timeout), system (58), lock not available (55P03).
const TRANSIENT_SQLSTATE = /^(08|40|53|57|58)|^55P03$/;
const SQLSTATE = /^[0-9A-Z]{5}$/;
const TRANSIENT_MESSAGE =
  /connection terminated|connection error|timeout exceeded when trying to connect|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Client was closed|Cannot use a pool after calling end/i;

/** The innermost error: drizzle wraps the pg error (whose message is the readable part) in its own. */
function rootOf(error: unknown): { code?: unknown; message: string } {
  let current = error as { cause?: unknown; code?: unknown; message?: unknown } | undefined;
  for (let depth = 0; depth < 5 && current?.cause; depth++) current = current.cause as typeof current;
  return { code: current?.code, message: String(current?.message ?? error) };
}

export function isTransient(error: unknown): boolean {
  if (isDomainError(error)) return error.retryable;
  const { code, message } = rootOf(error);
  if (typeof code === "string" && SQLSTATE.test(code)) return TRANSIENT_SQLSTATE.test(code);
  if (typeof code === "string" && code.startsWith("E")) return true;
  return TRANSIENT_MESSAGE.test(message);
}

export function failureReason(error: unknown): string {
  const { code, message } = rootOf(error);
  return `settlement failed: ${message}${typeof code === "string" && SQLSTATE.test(code) ? ` (SQLSTATE ${code})` : ""}`;
}

/**
 * Writes batches: one transaction per batch; a batch that fails for a reason no retry fixes is split in halves
 * until the job that causes it stands alone, so every other job still settles. The lone job gets a FAILED row
 * with the reason when it can name its account. Transient failures fail every job of the batch with a
 * TransientSettleError, which BullMQ retries with backoff (the rerun finds what committed and applies nothing twice).
 */
export class SettleRunner {
  readonly #o: SettleRunnerOptions;

  constructor(options: SettleRunnerOptions) {
    this.#o = options;
  }

  readonly flush = async (items: readonly SettleItem[]): Promise<BatchResult<SettleOutcome>[]> => {
    return this.#settleOrSplit(items);
  };

  async #settleOrSplit(items: readonly SettleItem[]): Promise<BatchResult<SettleOutcome>[]> {
    let outcomes: SettleOutcome[];
    try {
      const options = this.#o.options();
      outcomes = await this.#o.db.transaction((tx) => settleBatch(tx, items, options));
    } catch (error) {
      if (isTransient(error)) {
        this.#o.log.warn(
          { err: error, jobs: items.length },
          "settlement batch failed transiently; jobs will retry",
        );
        const transient = new TransientSettleError(failureReason(error));
        return items.map(() => ({ ok: false, error: transient }));
      }
      if (items.length === 1) return [await this.#failAlone(items[0]!, error)];
      this.#o.log.warn(
        { err: rootOf(error).message, jobs: items.length },
        "settlement batch failed; splitting it",
      );
      const half = items.length >> 1;
      const left = await this.#settleOrSplit(items.slice(0, half));
      const right = await this.#settleOrSplit(items.slice(half));
      return [...left, ...right];
    }
    await this.#o.afterCommit?.(items, outcomes);
    return outcomes.map((value) => ({ ok: true, value }));
  }

  async #failAlone(item: SettleItem, cause: unknown): Promise<BatchResult<SettleOutcome>> {
    const reason = failureReason(cause);
    this.#o.log.error({ requestId: item.requestId, reason }, "settlement job fails on its own");
    try {
      const value = await this.#o.db.transaction((tx) => recordSettlementFailure(tx, item, reason));
      return { ok: true, value };
    } catch (error) {
      if (isTransient(error)) return { ok: false, error: new TransientSettleError(failureReason(error)) };
      this.#o.log.error({ requestId: item.requestId, err: error }, "could not record the failed settlement");
      return { ok: true, value: { status: "rejected", requestId: item.requestId, reason } };
    }
  }
}
