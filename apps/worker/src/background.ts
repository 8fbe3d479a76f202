import type { ConfigStore } from "@heidrun/config";
import { type createPool, type Db, startAuditHeadLogger } from "@heidrun/db";
import type { Logger } from "@heidrun/observability";
import { startExpirySweeper } from "./expiry-sweeper";
import type { WorkerService } from "./worker";

/** Releases the holds of overdue pre-auths (database clock); any number of workers may sweep at once. */
export function expiryService(deps: {
  config: ConfigStore;
  pool: ReturnType<typeof createPool>;
  db: Db;
  log: Logger;
}): WorkerService {
  let sweeper: ReturnType<typeof startExpirySweeper> | undefined;
  return {
    start() {
      sweeper ??= startExpirySweeper({
        pool: deps.pool,
        db: deps.db,
        log: deps.log,
        intervalMs: () => deps.config.current().settings.preauth.sweepIntervalMs,
      });
    },
    async stop() {
      await sweeper?.stop();
    },
  };
}

/** Logs the audit chain head now and then, so a copy exists outside the database Heidrun writes. */
export function auditHeadService(deps: { config: ConfigStore; db: Db; log: Logger }): WorkerService {
  let stop: (() => Promise<void>) | undefined;
  return {
    start() {
      stop ??= startAuditHeadLogger(deps.db, deps.log, deps.config.current().settings.auditHeadLogIntervalMs);
    },
    async stop() {
      await stop?.();
    },
  };
}
