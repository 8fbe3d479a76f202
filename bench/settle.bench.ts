/**
 * Settlements per second through the worker fleet: the same backlog of track-usage jobs drained by one and by
 * two `heidrun worker` processes, beside a no-op BullMQ worker process (same concurrency) on a backlog of the
 * same size in the same run. The queue is paused while it fills and resumed once every worker is ready, so
 * each figure is drain time only.
 *
 *   npx tsx bench/settle.bench.ts [--quick] [--jobs N]
 *
 * Prints JSON lines ({path, heidrun, baseline, ratio, unit, goal, pass, ...}) and readable lines. Goals: one
 * process ≥ 0.5× the no-op worker and ≥ 5,000/s; two processes ≥ 1.6× one. Needs PostgreSQL and Redis (as
 * the tests do); works in a database and Redis prefix of its own that it drops afterwards.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRedis, SETTLEMENT_QUEUE, SettlementProducer } from "@heidrun/queue";
import { createTestContext, type TestContext } from "@heidrun/testing";
import { Queue, Worker } from "bullmq";
import { seedPrices, trackJob, untilFinished, WorkerProcess } from "../apps/worker/src/test-support/fixtures";

export interface SettleBenchLine {
  path: string;
  heidrun: number;
  baseline: number;
  ratio: number;
  unit: string;
  goal: string;
  pass: boolean;
  detail?: string;
  jobs: number;
}

const SELF = fileURLToPath(import.meta.url);
const CONCURRENCY = 1000;
const PER_PROCESS_GOAL = 5000;

/** The baseline: a BullMQ worker whose processor does nothing, reporting progress like WorkerProcess. */
async function noopWorkerMain(): Promise<void> {
  const { redisUrl, prefix } = JSON.parse(
    process.argv[process.argv.indexOf("--noop-worker") + 1] ?? "{}",
  ) as {
    redisUrl: string;
    prefix: string;
  };
  let completed = 0;
  let queued = false;
  const worker = new Worker(SETTLEMENT_QUEUE, async () => undefined, {
    connection: createRedis(redisUrl, "worker"),
    prefix,
    concurrency: CONCURRENCY,
  });
  worker.on("completed", () => {
    completed++;
    if (queued) return;
    queued = true;
    setImmediate(() => {
      queued = false;
      process.send?.({ type: "progress", completed, failed: 0 });
    });
  });
  await worker.waitUntilReady();
  process.send?.({ type: "ready" });
  process.on("message", async (message) => {
    if (message !== "stop") return;
    await worker.close();
    process.exit(0);
  });
}

/** A no-op worker process with the same IPC protocol as WorkerProcess, so untilFinished works for both. */
function noopProcess(ctx: TestContext): WorkerProcess {
  const options = JSON.stringify({ redisUrl: ctx.redisUrl, prefix: ctx.redisPrefix });
  const child: ChildProcess = fork(SELF, ["--noop-worker", options], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new WorkerProcess(child);
}

async function fill(producer: SettlementProducer, tag: string, count: number): Promise<void> {
  for (let start = 0; start < count; start += 1000) {
    const jobs = [];
    for (let i = start; i < Math.min(start + 1000, count); i++) {
      const at = new Date(Date.UTC(2026, 2, 1 + (i % 28), i % 24, i % 60));
      jobs.push(
        trackJob(
          `${tag}-${i}`,
          `acct-${i % 200}`,
          { input: BigInt(200 + (i % 9000)), output: BigInt(i % 700) },
          at,
        ),
      );
    }
    await producer.enqueueWithoutWindow(jobs);
  }
}

/** Fills a paused queue, starts the workers, resumes, and answers jobs per second of drain time. */
async function drain(
  queue: Queue,
  producer: SettlementProducer,
  tag: string,
  count: number,
  start: () => WorkerProcess[],
) {
  await queue.pause();
  await fill(producer, tag, count);
  const workers = start();
  try {
    await Promise.all(workers.map((w) => w.ready));
    const t0 = performance.now();
    await queue.resume();
    await untilFinished(workers, count);
    const seconds = (performance.now() - t0) / 1000;
    const failed = workers.reduce((n, w) => n + w.failed, 0);
    if (failed) throw new Error(`${tag}: ${failed} jobs failed`);
    return Math.round(count / seconds);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await queue.obliterate({ force: true });
  }
}

export async function run(opts: { quick: boolean; jobs?: number }): Promise<SettleBenchLine[]> {
  const jobs = opts.jobs ?? (opts.quick ? 5000 : 20_000);
  const ctx = await createTestContext();
  const connection = createRedis(ctx.redisUrl, "producer", { enableOfflineQueue: true });
  const producer = new SettlementProducer({
    connection,
    prefix: ctx.redisPrefix,
    settings: () => ({
      attempts: 5,
      backoffMs: 1000,
      keepCompletedSeconds: 3600,
      keepFailedSeconds: 3600,
      idempotencyWindowSeconds: 3600,
    }),
  });
  const queue = new Queue(SETTLEMENT_QUEUE, { connection, prefix: ctx.redisPrefix });
  try {
    await seedPrices(ctx.db);
    const settings = { worker: { concurrency: CONCURRENCY } };
    const noop = await drain(queue, producer, "noop", jobs, () => [noopProcess(ctx)]);
    const one = await drain(queue, producer, "one", jobs, () => [WorkerProcess.spawn(ctx, {}, settings)]);
    const two = await drain(queue, producer, "two", jobs, () => [
      WorkerProcess.spawn(ctx, {}, settings),
      WorkerProcess.spawn(ctx, {}, settings),
    ]);
    // For reading the 2-process figure: what the queue alone scales to on this machine.
    const noopTwo = await drain(queue, producer, "noop2", jobs, () => [noopProcess(ctx), noopProcess(ctx)]);
    const oneRatio = one / noop;
    return [
      {
        path: "worker/settle (1 process) vs no-op BullMQ worker",
        heidrun: one,
        baseline: noop,
        ratio: Math.round(oneRatio * 100) / 100,
        unit: "settlements/s",
        goal: `ratio >= 0.5 and >= ${PER_PROCESS_GOAL}/s`,
        pass: oneRatio >= 0.5 && one >= PER_PROCESS_GOAL,
        jobs,
      },
      {
        path: "worker/settle (2 processes) vs 1 process",
        heidrun: two,
        baseline: one,
        ratio: Math.round((two / one) * 100) / 100,
        unit: "settlements/s",
        goal: "ratio >= 1.6",
        pass: two / one >= 1.6,
        detail: `no-op BullMQ workers on the same backlog: 1 process ${noop}/s, 2 processes ${noopTwo}/s (${Math.round((noopTwo / noop) * 100) / 100}x)`,
        jobs,
      },
    ];
  } finally {
    await queue.close();
    await producer.close();
    connection.disconnect();
    await ctx.close();
  }
}

if (process.argv.includes("--noop-worker")) {
  noopWorkerMain().catch((error: unknown) => {
    process.stderr.write(`no-op worker: ${String(error)}\n`);
    process.exit(1);
  });
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf("--jobs");
  const lines = await run({
    quick: process.argv.includes("--quick"),
    ...(at > 0 ? { jobs: Number.parseInt(process.argv[at + 1] ?? "", 10) } : {}),
  });
  for (const line of lines) console.log(JSON.stringify(line));
  for (const line of lines) {
    console.log(
      `${line.path}: ${line.heidrun}/s vs ${line.baseline}/s = ${line.ratio}× (${line.goal}): ${line.pass ? "PASS" : "FAIL"}`,
    );
  }
  if (!lines.every((line) => line.pass)) process.exitCode = 1;
}
