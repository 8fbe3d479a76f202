import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseSettings } from "@heidrun/config";
import type { PriceVersion } from "@heidrun/core";
import { createDb, createPool, type Db } from "@heidrun/db";
import { createRedis, SETTLEMENT_QUEUE } from "@heidrun/queue";
import { freePort, type PrivateRedis, startPrivateRedis } from "@heidrun/testing";
import { Queue } from "bullmq";
import type pg from "pg";
import { acknowledgedSettlements, runCheckers, type Violations } from "./checkers";
import { FaultClient } from "./client";
import type { ModelSettings } from "./model";
import { PrivatePostgres } from "./postgres";
import { CLI_MAIN, HeidrunProcess, type ProcessEnv, REPO_ROOT } from "./processes";
import { PRICES, seedPrices } from "./workload";

export const DURABLE_REDIS = [
  "--appendonly",
  "yes",
  "--appendfsync",
  "always",
  "--maxmemory-policy",
  "noeviction",
];

export const API_KEYS = {
  yggdrasil: "faults-yggdrasil-key-0001",
  admin: "faults-admin-key-00000001",
} as const;

/** Settings of every process of a run: quick retries and health rounds, ports picked by the kernel. */
export const BASE_SETTINGS = {
  queue: { attempts: 12, backoffMs: 250 },
  worker: { batchSize: 200, lingerMs: 20, concurrency: 300, shutdownGraceMs: 5000 },
  ingress: { healthCheckIntervalMs: 500, shutdownGraceMs: 3000 },
  redis: { durabilityCheck: "refuse" },
  metrics: { ingressPort: 0, workerPort: 0 },
  preauth: { sweepIntervalMs: 500 },
};

export interface ClusterOptions {
  /** Names the log directory: test-results/faults/<name>/. */
  name: string;
  /** A migrated data directory (buildPostgresTemplate) for a private PostgreSQL; or `databaseUrl`. */
  postgresTemplate?: string;
  /** A migrated database to use as is (the smoke test's useTestContext database). */
  databaseUrl?: string;
  redisArgs?: string[];
  /** Merged over BASE_SETTINGS, section by section. */
  settings?: Record<string, Record<string, unknown>>;
  /** Deadline of each client attempt (default 5 s). */
  deadlineMs?: number;
  /** How workers run: the CLI (default), or another script with extra environment (shorter BullMQ locks). */
  workerCommand?: { argv: string[]; env: Record<string, string> };
}

function merge(extra: Record<string, Record<string, unknown>> = {}): Record<string, Record<string, unknown>> {
  const merged: Record<string, Record<string, unknown>> = { ...BASE_SETTINGS };
  for (const [section, values] of Object.entries(extra)) merged[section] = { ...merged[section], ...values };
  return merged;
}

/**
 * One Heidrun installation of a scenario's own: PostgreSQL (private or given), a durable Redis, an ingress and
 * workers as child processes, a logging client, and the checkers.
 */
export class Cluster {
  readonly client: FaultClient;
  readonly workers: HeidrunProcess[] = [];
  ingress: HeidrunProcess | undefined;
  /** Prices a scenario adds while it runs (through SetPricingConfig), for the model. */
  readonly extraPrices: PriceVersion[] = [];
  #spawned = 0;
  #queueConnection: { disconnect(): void } | undefined;

  private constructor(
    readonly options: ClusterOptions,
    readonly dir: string,
    readonly postgres: PrivatePostgres | undefined,
    readonly redis: PrivateRedis,
    readonly databaseUrl: string,
    readonly grpcPort: number,
    readonly settingsFile: string,
    readonly settings: ModelSettings,
    readonly pool: pg.Pool,
    readonly db: Db,
    readonly queue: Queue,
  ) {
    this.client = new FaultClient({
      address: `127.0.0.1:${grpcPort}`,
      apiKey: API_KEYS.admin,
      deadlineMs: options.deadlineMs ?? 5000,
      logFile: join(dir, "calls.jsonl"),
    });
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    const dir = join(REPO_ROOT, "test-results", "faults", `${options.name}-${Date.now().toString(36)}`);
    mkdirSync(dir, { recursive: true });
    const postgres = options.postgresTemplate
      ? await PrivatePostgres.fromTemplate(options.postgresTemplate)
      : undefined;
    const databaseUrl = postgres?.url ?? options.databaseUrl;
    if (!databaseUrl) throw new Error("a cluster needs postgresTemplate or databaseUrl");
    const redis = await startPrivateRedis(options.redisArgs ?? DURABLE_REDIS);
    const settings = merge(options.settings);
    const settingsFile = join(dir, "settings.json");
    writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
    const parsed = parseSettings(settings);
    const pool = createPool(databaseUrl, { max: 4, applicationName: "heidrun-faults" });
    const db = createDb(pool);
    await seedPrices(db);
    const queueConnection = createRedis(redis.url, "worker");
    const queue = new Queue(SETTLEMENT_QUEUE, { connection: queueConnection, prefix: parsed.queue.prefix });
    queue.on("error", () => {});
    const cluster = new Cluster(
      options,
      dir,
      postgres,
      redis,
      databaseUrl,
      await freePort(),
      settingsFile,
      {
        commission: parsed.commission,
        roundingIncrementMicros: parsed.roundingIncrementMicros,
      },
      pool,
      db,
      queue,
    );
    cluster.#queueConnection = queueConnection;
    return cluster;
  }

  /** Another settings file (BASE_SETTINGS with `extra` over it) for processes started differently. */
  writeSettings(name: string, extra: Record<string, Record<string, unknown>>): string {
    const file = join(this.dir, `${name}.settings.json`);
    writeFileSync(file, JSON.stringify(merge(extra), null, 2));
    return file;
  }

  env(extra: Partial<ProcessEnv> = {}): ProcessEnv {
    return {
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: this.redis.url,
      HEIDRUN_CONFIG: this.settingsFile,
      HEIDRUN_API_KEYS: `${API_KEYS.yggdrasil}=yggdrasil,${API_KEYS.admin}=admin`,
      HEIDRUN_GRPC_ADDR: `127.0.0.1:${this.grpcPort}`,
      ...extra,
    };
  }

  /** A Heidrun CLI process (not waited for): `heidrun <argv>`. */
  spawn(name: string, argv: string[], env: Partial<ProcessEnv> = {}): HeidrunProcess {
    return HeidrunProcess.spawn({
      name,
      argv,
      env: this.env(env),
      logFile: join(this.dir, `${name}-${++this.#spawned}.log`),
    });
  }

  /** Starts the ingress (again) on the cluster's port and waits until it listens. */
  async startIngress(): Promise<HeidrunProcess> {
    const ingress = this.spawn("ingress", [CLI_MAIN, "ingress"]);
    this.ingress = ingress;
    await ingress.waitForLog(/"msg":"ingress listening"/, 90_000);
    return ingress;
  }

  async startWorker(): Promise<HeidrunProcess> {
    const command = this.options.workerCommand;
    const worker = command
      ? this.spawn(`worker`, command.argv, command.env)
      : this.spawn("worker", [CLI_MAIN, "worker"]);
    this.workers.push(worker);
    await worker.waitForLog(/"msg":"settlement worker started"/, 90_000);
    return worker;
  }

  async startWorkers(count: number): Promise<HeidrunProcess[]> {
    return Promise.all(Array.from({ length: count }, () => this.startWorker()));
  }

  liveWorkers(): HeidrunProcess[] {
    return this.workers.filter((w) => w.running);
  }

  async settledCount(): Promise<number> {
    const { rows } = await this.pool.query("SELECT count(*)::int AS n FROM settlements");
    return rows[0].n as number;
  }

  /** Resolves once at least `count` settlements are in (the load is well under way). */
  async untilSettled(count: number, timeoutMs = 120_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((await this.settledCount()) < count) {
      if (Date.now() > until) throw new Error(`fewer than ${count} settlements after ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /**
   * Kills the workers once one holds a job found stalled before (its first worker died), so that job stalls a
   * second time. They are frozen first and looked at again, so the kill cannot come just after they finished it.
   */
  async killWhoeverRetookAStalledJob(timeoutMs = 150_000): Promise<number> {
    const until = Date.now() + timeoutMs;
    const retaken = async () => (await this.queue.getActive()).filter((job) => job.stalledCounter > 0).length;
    while (Date.now() < until) {
      if ((await retaken()) > 0) {
        const live = this.liveWorkers();
        for (const worker of live) worker.signal("SIGSTOP");
        const held = await retaken();
        if (held > 0) {
          await Promise.all(live.map((worker) => worker.kill()));
          return held;
        }
        for (const worker of live) worker.signal("SIGCONT");
      }
      await sleep(50);
    }
    throw new Error(`no stalled job was taken over within ${timeoutMs} ms`);
  }

  /** The most times any finished job was found stalled (2: its worker died twice under it). */
  async mostStalls(): Promise<number> {
    let most = 0;
    for (let start = 0; ; start += 1000) {
      const jobs = await this.queue.getJobs(["completed", "failed"], start, start + 999, true);
      for (const job of jobs) most = Math.max(most, job.stalledCounter ?? 0);
      if (jobs.length < 1000) return most;
    }
  }

  async jobCounts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts("waiting", "active", "delayed", "prioritized", "failed", "completed");
  }

  /**
   * Waits until the queue is empty and every acknowledged settlement is written (or the time is up: the
   * checkers then say what is missing). Returns the last job counts.
   */
  async drain(timeoutMs = 180_000): Promise<Record<string, number>> {
    const acked = acknowledgedSettlements(this.client.records);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const counts = await this.jobCounts().catch(() => undefined);
      const busy = counts ? counts.waiting! + counts.active! + counts.delayed! + counts.prioritized! : 1;
      if (busy === 0) {
        const { rows } = await this.pool.query(
          "SELECT count(*)::int AS n FROM settlements WHERE request_id = ANY($1::text[])",
          [[...acked]],
        );
        if (rows[0].n === acked.size) return counts!;
      }
      if (Date.now() > until) return counts ?? {};
      await sleep(500);
    }
  }

  async check(now?: Date): Promise<Violations> {
    const violations = await runCheckers({
      pool: this.pool,
      db: this.db,
      records: this.client.records,
      prices: [...PRICES, ...this.extraPrices],
      settings: this.settings,
      ...(now ? { now } : {}),
    });
    if (violations.C1.length > 0) {
      const failed = await this.queue.getFailed(0, 4).catch(() => []);
      for (const job of failed) violations.C1.push(`failed job ${job.id}: ${job.failedReason}`);
      violations.C1.push(`job counts: ${JSON.stringify(await this.jobCounts().catch(() => ({})))}`);
    }
    return violations;
  }

  async close(): Promise<void> {
    this.client.close();
    await Promise.allSettled([this.ingress?.stop(5000), ...this.workers.map((w) => w.stop(5000))]);
    await this.queue.close().catch(() => {});
    this.#queueConnection?.disconnect();
    await this.pool.end().catch(() => {});
    await this.redis.destroy().catch(() => {});
    if (this.postgres) {
      // The server's log (deadlock reports, crash recovery) stays with the run's other logs.
      try {
        copyFileSync(join(this.postgres.dir, "postgres.log"), join(this.dir, "postgres.log"));
      } catch {
        // no log written
      }
      this.postgres.destroy();
    }
  }
}
