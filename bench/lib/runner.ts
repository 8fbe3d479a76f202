import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BENCH_CHILD } from "./child";
import type { Message } from "./ipc";
import type { BenchLine } from "./result";
import type { BenchOutcome } from "./table";

export interface BenchSpec {
  /** File name under bench/. */
  file: string;
  /** The row of the table it fills. */
  title: string;
  /** Seconds it may take, child processes and services start included, before it is killed. */
  budgetSeconds: { quick: number; full: number };
}

export interface BenchRun {
  outcome: BenchOutcome;
  /** Databases its processes connected to (for dropping what a killed bench left). */
  databases: string[];
}

/** The last lines a process wrote, for the reason of a crash. */
class Tail {
  #lines: string[] = [];
  push(chunk: Buffer): void {
    this.#lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    if (this.#lines.length > 40) this.#lines.splice(0, this.#lines.length - 40);
  }
  last(count: number): string {
    return this.#lines.slice(-count).join(" ⏎ ");
  }
}

/** Ends a bench's whole process group (its servers and workers too); gone already is fine. */
function endGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // ESRCH: nothing of the group is left.
  }
}

let current: ChildProcess | undefined;

/** For the runner's SIGINT handler: ends the bench that is running, if any. */
export function endCurrentBench(): void {
  if (current) endGroup(current);
}

/**
 * Runs one bench file in a child process of its own (a process group of its own, so a bench that overruns
 * its budget is ended with everything it started) and answers what it produced.
 */
export async function runBench(
  benchDir: string,
  spec: BenchSpec,
  options: { quick: boolean; verbose: boolean; maxSeconds: number },
): Promise<BenchRun> {
  const path = join(benchDir, spec.file);
  const base = { file: spec.file, title: spec.title };
  if (!existsSync(path)) {
    return {
      outcome: { ...base, seconds: 0, status: "missing", message: `bench/${spec.file} does not exist` },
      databases: [],
    };
  }
  const budgetSeconds = Math.min(
    options.quick ? spec.budgetSeconds.quick : spec.budgetSeconds.full,
    Math.round(options.maxSeconds),
  );
  const started = performance.now();
  const child = fork(BENCH_CHILD, [JSON.stringify({ file: path, quick: options.quick })], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    detached: true,
  });
  current = child;
  const tail = new Tail();
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => {
      tail.push(chunk);
      if (options.verbose) process.stderr.write(chunk);
    });
  }
  const databases: string[] = [];
  let lines: BenchLine[] | undefined;
  let error: string | undefined;
  child.on("message", (message: Message) => {
    if (message.type === "database") databases.push(String(message.name));
    if (message.type === "result") lines = message.lines as BenchLine[];
    if (message.type === "error") error = String(message.message);
  });
  let overran = false;
  const timer = setTimeout(() => {
    overran = true;
    endGroup(child);
  }, budgetSeconds * 1000);
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal })),
  );
  clearTimeout(timer);
  // Servers or workers a crashed bench did not stop would skew every later bench.
  endGroup(child);
  current = undefined;
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  if (lines && !overran) return { outcome: { ...base, seconds, status: "ok", lines }, databases };
  if (overran) {
    const message = `killed after its budget of ${budgetSeconds} s; last output: ${tail.last(3) || "none"}`;
    return { outcome: { ...base, seconds, status: "overran", message }, databases };
  }
  const message = `${error ?? `exited with ${signal ?? code} and no result`}; last output: ${tail.last(3) || "none"}`;
  return { outcome: { ...base, seconds, status: "failed", message }, databases };
}
