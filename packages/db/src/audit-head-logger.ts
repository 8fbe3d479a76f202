import { readAuditHead } from "./audit-verify";
import type { DbOrTx } from "./pool";

/** The part of a pino logger this needs. */
export interface AuditHeadLog {
  info(obj: object, msg: string): void;
  warn?(obj: object, msg: string): void;
}

/**
 * Logs the audit chain head now and every intervalMs. Shipped logs are a copy Heidrun cannot rewrite later, so
 * each line anchors the chain up to that seq. Returns stop(), which waits for a read in flight.
 */
export function startAuditHeadLogger(db: DbOrTx, log: AuditHeadLog, intervalMs: number): () => Promise<void> {
  let inFlight: Promise<void> | undefined;
  const tick = () => {
    // A slow database must not pile up reads.
    if (inFlight) return;
    inFlight = readAuditHead(db)
      .then(
        (head) =>
          log.info({ auditHeadSeq: head.seq.toString(), auditHeadHash: head.hash }, "audit chain head"),
        (error: unknown) => log.warn?.({ err: error }, "could not read the audit chain head"),
      )
      .finally(() => {
        inFlight = undefined;
      });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await inFlight;
  };
}
