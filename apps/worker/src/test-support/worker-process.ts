/**
 * A settlement worker in a process of its own, for tests and benches:
 *
 *   fork(WORKER_PROCESS, [], { execArgv: ["--import", "tsx"], env })
 *
 * Configured like `heidrun worker` (DATABASE_URL, REDIS_URL, HEIDRUN_CONFIG, HEIDRUN_LOG_LEVEL), plus
 * HEIDRUN_TEST_WORKER = JSON `{ crashAfterCommit?: boolean, workerOptions?: {...} }`. Over IPC it sends
 * `{ type: "ready" }` once it fetches jobs and `{ type: "progress", completed, failed }` as jobs finish; it
 * stops gracefully on the message "stop" or SIGTERM. With crashAfterCommit it SIGKILLs itself right after its
 * first batch commits, before any job of that batch is answered.
 */
import { fileURLToPath } from "node:url";
import { loadConfig } from "@heidrun/config";
import { runWorker } from "../run";

export const WORKER_PROCESS = fileURLToPath(import.meta.url);

export interface WorkerProcessOptions {
  crashAfterCommit?: boolean;
  workerOptions?: Record<string, unknown>;
}

export type WorkerProcessMessage =
  | { type: "ready" }
  | { type: "progress"; completed: number; failed: number };

function send(message: WorkerProcessMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const options = JSON.parse(process.env.HEIDRUN_TEST_WORKER ?? "{}") as WorkerProcessOptions;
  const stopSignal = new Promise<string>((resolve) => {
    process.on("message", (message) => message === "stop" && resolve("stop"));
    process.on("SIGTERM", () => resolve("SIGTERM"));
    process.on("disconnect", () => resolve("disconnect"));
  });
  let completed = 0;
  let failed = 0;
  let reportQueued = false;
  const report = () => {
    if (reportQueued) return;
    reportQueued = true;
    setImmediate(() => {
      reportQueued = false;
      send({ type: "progress", completed, failed });
    });
  };
  await runWorker(
    loadConfig(process.env),
    {
      stopSignal,
      onStarted(settlement) {
        settlement.worker.on("completed", () => {
          completed++;
          report();
        });
        settlement.worker.on("failed", (job) => {
          // Only final failures: an attempt that will be retried leaves finishedOn unset.
          if (job?.finishedOn === undefined) return;
          failed++;
          report();
        });
        send({ type: "ready" });
      },
    },
    {
      ...(options.crashAfterCommit ? { afterCommit: () => process.kill(process.pid, "SIGKILL") } : {}),
      ...(options.workerOptions ? { workerOptions: options.workerOptions } : {}),
    },
  );
  process.exit(0);
}

if (process.argv[1] === WORKER_PROCESS) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `worker process: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
