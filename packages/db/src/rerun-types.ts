/** Which FAILED settlements a rerun takes. Every filter is optional; together they narrow (AND). */
export interface RerunFilters {
  providerId?: string;
  /** When it (last) failed, settlements.settled_at, in [since, until). */
  since?: Date;
  until?: Date;
  /** Case-insensitive part of the failure reason. */
  reasonContains?: string;
  /** One group of the dashboard's overview: the failure reason with its timestamps and ids left out (reasonGroup). */
  reason?: string;
  /** At most this many; 0 or unset: all that match. */
  limit?: number;
}

export interface RerunRequest extends RerunFilters {
  /** The idempotency key: the same key with the same filters answers the first result again. */
  requestId: string;
  /** Who asked: an API key id, `cli:<user>`, `dashboard:<user>`. Recorded in the audit trail and on the jobs. */
  actor: string;
  /** Count what would be requeued and write nothing (no jobs, no rerun_requests row, no audit event). */
  dryRun?: boolean;
  /** Rows per keyset page (default 500). */
  pageSize?: number;
  /** After each page, with the running totals and the request ids that page has queued. */
  onPage?: (progress: RerunProgress) => void;
}

export interface RerunCounts {
  /** FAILED settlements the filters matched (up to the limit). */
  matched: bigint;
  /** Of those, put back on the queue now: a new job, or the failed job retried. */
  requeued: bigint;
  /** Settled by the time their page was requeued (a concurrent rerun or a late job got there first). */
  alreadySettled: bigint;
  /** A job for it was already waiting or running (a concurrent rerun queued it): left alone. */
  inFlight: bigint;
}

export interface RerunProgress extends RerunCounts {
  /** Request ids of this page with a job queued now: requeued, or in flight already (to follow their outcome). */
  pageQueued: string[];
}

export interface RerunResult extends RerunCounts {
  /** True when this is the stored answer of an earlier call with the same request_id (nothing was requeued now). */
  replayed: boolean;
  /** The database clock just before the first requeue: a row that failed after it failed on a rerun job. */
  startedAt: Date;
}
