import { Gauge, type Registry } from "@heidrun/observability";
import { readAuditHead } from "./audit-verify";
import { failedSettlementCount, openHolds, recentPreauthOutcomes } from "./overview";
import type { DbOrTx } from "./pool";
import { preauthStatuses } from "./schema";

/** What the queue gauges need of a BullMQ Queue (structural, so any Queue satisfies it). */
export interface GaugedQueue {
  readonly name: string;
  getJobCounts(...types: ("waiting" | "active" | "delayed" | "failed")[]): Promise<Record<string, number>>;
  getJobs(types: "wait"[], start: number, end: number, asc: boolean): Promise<{ timestamp: number }[]>;
}

/**
 * One read shared by every gauge of a scrape (prom-client collects them concurrently) and by scrapes closer
 * together than `ttlMs`, so several Prometheus servers do not multiply the load.
 */
function shared<T>(read: () => Promise<T>, ttlMs: number): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= ttlMs) last = { at: now, value: read() };
    return last.value;
  };
}

export const QUEUE_STATES = ["waiting", "active", "delayed", "failed"] as const;

function gauge<L extends string>(
  registry: Registry,
  config: {
    name: string;
    help: string;
    labelNames?: readonly L[];
    collect: (this: Gauge<L>) => Promise<void>;
  },
): Gauge<L> {
  const existing = registry.getSingleMetric(config.name);
  if (existing) registry.removeSingleMetric(config.name);
  return new Gauge<L>({ ...config, labelNames: config.labelNames ?? [], registers: [registry] });
}

/**
 * heidrun_queue_jobs{queue,state} and heidrun_queue_oldest_waiting_seconds{queue}, read from Redis at each
 * scrape. Labels are the queue names and four states, so cardinality stays fixed. A failing Redis leaves the
 * series out of that scrape (an absent series is what an alert on staleness wants) and reports
 * heidrun_queue_up 0.
 */
export function registerQueueGauges(registry: Registry, queues: () => readonly GaugedQueue[]): void {
  const read = shared(async () => {
    const counts = new Map<string, Record<string, number>>();
    const oldest = new Map<string, number>();
    try {
      for (const queue of queues()) {
        counts.set(queue.name, await queue.getJobCounts(...QUEUE_STATES));
        // BullMQ pushes new jobs on the left of the wait list; ascending order starts at the oldest.
        const [first] = await queue.getJobs(["wait"], 0, 0, true);
        oldest.set(queue.name, first ? Math.max(0, (Date.now() - first.timestamp) / 1000) : 0);
      }
      return { up: 1, counts, oldest };
    } catch {
      return { up: 0, counts: new Map<string, Record<string, number>>(), oldest: new Map<string, number>() };
    }
  }, 1000);
  gauge(registry, {
    name: "heidrun_queue_up",
    help: "1 when the last scrape could read the queues from Redis",
    async collect() {
      this.set((await read()).up);
    },
  });
  gauge(registry, {
    name: "heidrun_queue_jobs",
    help: "Jobs in a queue by state (waiting, active, delayed, failed)",
    labelNames: ["queue", "state"],
    async collect() {
      const { counts } = await read();
      this.reset();
      for (const [queue, byState] of counts) {
        for (const state of QUEUE_STATES) this.set({ queue, state }, byState[state] ?? 0);
      }
    },
  });
  gauge(registry, {
    name: "heidrun_queue_oldest_waiting_seconds",
    help: "Age of the oldest waiting job (0 when none waits)",
    labelNames: ["queue"],
    async collect() {
      const { oldest } = await read();
      this.reset();
      for (const [queue, age] of oldest) this.set({ queue }, age);
    },
  });
}

export interface LedgerGaugeOptions {
  /** Window of heidrun_preauths_recent{status}. Default 3600 s. */
  preauthWindowSeconds?: number;
  /** Scrapes closer together than this share one read. Default 5000 ms. */
  minIntervalMs?: number;
}

/**
 * Gauges read from Postgres at each scrape (the dashboard process registers them, once per deployment):
 * open holds, FAILED settlements, the audit chain head and recent pre-auth outcomes. Amounts stay out of
 * Prometheus (a float cannot hold every micro); the overview page shows them exactly.
 */
export function registerLedgerGauges(registry: Registry, db: DbOrTx, options: LedgerGaugeOptions = {}): void {
  const window = options.preauthWindowSeconds ?? 3600;
  interface Snapshot {
    holds: bigint;
    awaiting: bigint;
    /** Unix seconds of the oldest capture awaiting settlement, 0 when there is none. */
    oldestAwaiting: bigint;
    failed: bigint;
    auditSeq: bigint;
    outcomes: Map<string, bigint>;
  }
  const read = shared(async (): Promise<Snapshot | undefined> => {
    try {
      const [holds, failed, head, outcomes] = await Promise.all([
        openHolds(db),
        failedSettlementCount(db),
        readAuditHead(db),
        recentPreauthOutcomes(db, window),
      ]);
      const oldest = holds.awaitingSettlement.oldestCapturedAt;
      return {
        holds: holds.count,
        awaiting: holds.awaitingSettlement.count,
        oldestAwaiting: oldest ? BigInt(oldest.getTime()) / 1000n : 0n,
        failed,
        auditSeq: head.seq,
        outcomes,
      };
    } catch {
      return undefined;
    }
  }, options.minIntervalMs ?? 5000);
  gauge(registry, {
    name: "heidrun_database_up",
    help: "1 when the last scrape could read the ledger gauges from Postgres",
    async collect() {
      this.set((await read()) ? 1 : 0);
    },
  });
  const fromSnapshot = (name: string, help: string, pick: (s: Snapshot) => bigint) =>
    gauge(registry, {
      name,
      help,
      async collect() {
        const snapshot = await read();
        this.reset();
        if (snapshot) this.set(Number(pick(snapshot)));
      },
    });
  fromSnapshot("heidrun_open_holds", "Pending pre-authorizations holding funds", (s) => s.holds);
  fromSnapshot(
    "heidrun_captures_awaiting_settlement",
    "Captured pre-authorizations still holding their cost until their settlement charges it",
    (s) => s.awaiting,
  );
  fromSnapshot(
    "heidrun_oldest_capture_awaiting_settlement_timestamp_seconds",
    "When the oldest capture still awaiting its settlement was captured (0: none)",
    (s) => s.oldestAwaiting,
  );
  fromSnapshot("heidrun_failed_settlements", "Settlements in status FAILED (rerun them)", (s) => s.failed);
  fromSnapshot("heidrun_audit_head_seq", "Sequence number of the audit chain head", (s) => s.auditSeq);
  gauge(registry, {
    name: "heidrun_preauths_recent",
    help: `Pre-authorizations created in the last ${window} s, by status (authorized ones are pending or later states)`,
    labelNames: ["status"],
    async collect() {
      const snapshot = await read();
      this.reset();
      if (!snapshot) return;
      for (const status of preauthStatuses) this.set({ status }, Number(snapshot.outcomes.get(status) ?? 0n));
    },
  });
}
