import { createDb, type createPool, type Db, expireDuePreauths } from "@heidrun/db";
import type { Logger } from "@heidrun/observability";

/** Who the audit trail names for expiries. */
export const EXPIRY_ACTOR = "worker:expiry";
/** Pre-auths expired per transaction; a full pass is followed at once by another. */
export const DEFAULT_SWEEP_LIMIT = 500;

/**
 * One pass: up to `limit` pending pre-auths past expires_at (database clock) become expired and release their
 * holds, with audit records, in one transaction. Safe to run in every worker at once. Returns how many expired.
 */
export function sweepExpired(db: Db, options: { limit: number; actor?: string }): Promise<number> {
  return expireDuePreauths(db, { limit: options.limit, actor: options.actor ?? EXPIRY_ACTOR });
}

export interface ExpirySweeperOptions {
  /** Built from `pool` when not given. */
  db?: Db;
  pool: ReturnType<typeof createPool>;
  log: Logger;
  /** Pause between passes once the backlog is drained (settings.preauth.sweepIntervalMs); a function follows reloads. */
  intervalMs: number | (() => number);
  actor?: string;
  limit?: number;
  /** Called after every pass that expired something (metrics, tests). */
  onSweep?: (expired: number) => void;
}

export interface ExpirySweeper {
  /** Stops the timer and waits for a pass in progress to commit or fail. */
  stop(): Promise<void>;
}

/**
 * Runs sweepExpired now and then every `intervalMs`; a pass that fills its limit is repeated at once, so a
 * backlog drains at database speed. A failing pass (Postgres down) is logged and retried after the interval:
 * nothing is lost, because expiry is decided by expires_at, not by this timer.
 */
export function startExpirySweeper(options: ExpirySweeperOptions): ExpirySweeper {
  const db = options.db ?? createDb(options.pool);
  const limit = options.limit ?? DEFAULT_SWEEP_LIMIT;
  const actor = options.actor ?? EXPIRY_ACTOR;
  const interval =
    typeof options.intervalMs === "function" ? options.intervalMs : () => options.intervalMs as number;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const pass = async () => {
    try {
      let expired: number;
      do {
        expired = await sweepExpired(db, { limit, actor });
        if (expired > 0) {
          options.log.info({ expired }, "pre-authorizations expired");
          options.onSweep?.(expired);
        }
      } while (expired === limit && !stopped);
    } catch (error) {
      options.log.warn({ err: error }, "expiry sweep failed; retrying after the interval");
    }
  };
  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass().finally(() => schedule(interval()));
    }, delayMs);
  };
  schedule(0);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
