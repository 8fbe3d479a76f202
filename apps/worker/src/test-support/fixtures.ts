import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConfigStore, configStoreFor } from "@heidrun/config";
import { type Db, PriceCache, priceChannel, setPrice } from "@heidrun/db";
import { createRegistry, silentLogger } from "@heidrun/observability";
import { type AnyJob, type ProducerSettings, SettlementProducer } from "@heidrun/queue";
import type { TestContext } from "@heidrun/testing";
import type { Job } from "bullmq";
import { createWorker, type SettlementWorker, type WorkerDeps } from "../worker";
import { WORKER_PROCESS, type WorkerProcessMessage, type WorkerProcessOptions } from "./worker-process";

export interface ServiceUrls {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
}

/** Settings for a test worker: the test's queue prefix, quick retries, no durability check (test Redis). */
export function testSettings(urls: ServiceUrls, extra: Record<string, Record<string, unknown>> = {}) {
  return {
    ...extra,
    queue: { prefix: urls.redisPrefix, attempts: 5, backoffMs: 200, ...extra.queue },
    worker: { batchSize: 500, lingerMs: 20, concurrency: 1000, shutdownGraceMs: 10_000, ...extra.worker },
    redis: { durabilityCheck: "off", ...extra.redis },
  };
}

export function testConfig(
  urls: ServiceUrls,
  extra: Record<string, Record<string, unknown>> = {},
): ConfigStore {
  return configStoreFor(urls, testSettings(urls, extra));
}

export const OPENAI = { providerId: "openai", model: "gpt-4o-mini" } as const;

/** gpt-4o-mini at $0.15 / $0.60 per Mtok from 2026-01-01, and twice that from 2026-06-01. */
export async function seedPrices(db: Db): Promise<{ v1Id: bigint; v2Id: bigint }> {
  const v1 = await setPrice(
    db,
    {
      ...OPENAI,
      inputMicrosPerMtok: 150_000n,
      outputMicrosPerMtok: 600_000n,
      effectiveFrom: new Date("2026-01-01Z"),
    },
    { requestId: "seed-price-1", actor: "test" },
  );
  const v2 = await setPrice(
    db,
    {
      ...OPENAI,
      inputMicrosPerMtok: 300_000n,
      outputMicrosPerMtok: 1_200_000n,
      effectiveFrom: new Date("2026-06-01Z"),
    },
    { requestId: "seed-price-2", actor: "test" },
  );
  return { v1Id: v1.price.id, v2Id: v2.price.id };
}

export function testPriceCache(db: Db, prefix: string): PriceCache {
  return new PriceCache({ db, channel: priceChannel(prefix), refreshIntervalMs: 60_000 });
}

export function trackJob(
  requestId: string,
  accountId: string,
  tokens: { input: bigint; output: bigint },
  occurredAt: Date,
  extra: Partial<{ providerId: string; model: string }> = {},
): { requestId: string; job: AnyJob } {
  return {
    requestId,
    job: {
      name: "track-usage",
      data: {
        requestId,
        accountId,
        ...OPENAI,
        ...extra,
        usage: {
          inputTokens: tokens.input.toString(),
          outputTokens: tokens.output.toString(),
          cachedInputTokens: "0",
          cacheWriteTokens: "0",
        },
        occurredAt: occurredAt.toISOString(),
        actor: "test",
      },
    },
  };
}

/** A worker child process (test-support/worker-process.ts, or anything speaking its IPC) with its progress as events. */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  completed = 0;
  failed = 0;
  #waiters: Array<() => void> = [];

  /** Forks a `heidrun worker` configured for these services, with test settings and hooks. */
  static spawn(
    urls: ServiceUrls,
    options: WorkerProcessOptions = {},
    extra: Record<string, Record<string, unknown>> = {},
  ): WorkerProcess {
    const dir = mkdtempSync(join(tmpdir(), "heidrun-worker-"));
    const configFile = join(dir, "settings.json");
    writeFileSync(configFile, JSON.stringify(testSettings(urls, extra)));
    const child = fork(WORKER_PROCESS, [], {
      execArgv: ["--import", "tsx"],
      env: {
        ...process.env,
        DATABASE_URL: urls.databaseUrl,
        REDIS_URL: urls.redisUrl,
        HEIDRUN_CONFIG: configFile,
        HEIDRUN_LOG_LEVEL: "error",
        HEIDRUN_TEST_WORKER: JSON.stringify(options),
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new WorkerProcess(child);
  }

  /** Watches a forked child that sends WorkerProcessMessage over IPC. */
  constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    this.ready = new Promise((resolve, reject) => {
      this.child.on("message", (message: WorkerProcessMessage) => {
        if (message.type === "ready") resolve();
        if (message.type === "progress") {
          this.completed = message.completed;
          this.failed = message.failed;
          for (const wake of this.#waiters.splice(0)) wake();
        }
      });
      this.exited.then(({ code, signal }) => reject(new Error(`worker process exited (${signal ?? code})`)));
    });
    this.ready.catch(() => {});
  }

  /** Resolves at the next progress report. */
  nextProgress(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.send("stop");
    await this.exited;
  }
}

/** Resolves once the processes together finished `total` jobs (completed or failed for good). */
export async function untilFinished(processes: readonly WorkerProcess[], total: number): Promise<void> {
  const done = () => processes.reduce((sum, p) => sum + p.completed + p.failed, 0);
  while (done() < total) {
    const exited = processes.map((p) =>
      p.exited.then(() => Promise.reject(new Error("a worker process exited"))),
    );
    await Promise.race([...processes.map((p) => p.nextProgress()), ...exited]);
  }
}

export interface FinishedJobs {
  /** request_id → the job's return value. */
  completed: Map<string, unknown>;
  /** request_id → the reason of a job that failed for good. */
  failed: Map<string, string>;
}

const testWorkers: SettlementWorker[] = [];

/** Stops every worker startTestWorker started (afterEach). */
export async function stopTestWorkers(): Promise<void> {
  await Promise.all(testWorkers.splice(0).map((worker) => worker.stop()));
}

/** An in-process worker on the test's database and prefix; `finished(n)` resolves once n jobs are done for good. */
export async function startTestWorker(
  ctx: TestContext,
  extra: Record<string, Record<string, unknown>> = {},
  workerOptions: Record<string, unknown> = {},
  deps: Partial<WorkerDeps> = {},
) {
  const registry = createRegistry();
  const worker = createWorker({
    config: testConfig(ctx, extra),
    log: silentLogger(),
    registry,
    pool: ctx.pool,
    db: ctx.db,
    connection: ctx.newRedis({ forWorker: true }),
    priceCache: testPriceCache(ctx.db, ctx.redisPrefix),
    workerOptions,
    ...deps,
  });
  const seen: FinishedJobs = { completed: new Map(), failed: new Map() };
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  worker.worker.on("completed", (job: Job, result: unknown) => {
    seen.completed.set(job.data.requestId, result);
    wake();
  });
  worker.worker.on("failed", (job: Job | undefined, error: Error) => {
    if (job?.finishedOn === undefined) return;
    seen.failed.set(job.data.requestId, error.message);
    wake();
  });
  await worker.start();
  testWorkers.push(worker);
  return {
    worker,
    registry,
    async finished(n: number): Promise<FinishedJobs> {
      while (seen.completed.size + seen.failed.size < n) await new Promise<void>((r) => waiters.push(r));
      return seen;
    },
  };
}

/** A producer on the test's prefix with quick retries (its connection is the context's, closed with it). */
export function testProducer(ctx: TestContext, settings: Partial<ProducerSettings> = {}): SettlementProducer {
  return new SettlementProducer({
    connection: ctx.newRedis(),
    prefix: ctx.redisPrefix,
    settings: () => ({
      attempts: 5,
      backoffMs: 200,
      keepCompletedSeconds: 3600,
      keepFailedSeconds: 3600,
      idempotencyWindowSeconds: 3600,
      ...settings,
    }),
  });
}
