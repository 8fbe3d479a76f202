import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** The repository root: children run from it, as `npm run heidrun` does. */
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CLI_MAIN = "apps/cli/src/main.ts";

export interface ProcessEnv {
  DATABASE_URL: string;
  REDIS_URL: string;
  HEIDRUN_CONFIG: string;
  HEIDRUN_API_KEYS?: string;
  HEIDRUN_GRPC_ADDR?: string;
  [name: string]: string | undefined;
}

export interface SpawnOptions {
  /** A label for logs: `ingress`, `worker-2`. */
  name: string;
  /** Script and arguments after `node --import tsx`; default the CLI with `role`. */
  argv: string[];
  env: ProcessEnv;
  /** Where stdout and stderr go (pino JSON lines). */
  logFile: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A Heidrun process (`node --import tsx apps/cli/src/main.ts ingress|worker`). Its output goes straight to a file
 * (no pipe through this process, which is busy driving load); `waitForLog` reads that file.
 */
export class HeidrunProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  #exit: Exit | undefined;

  private constructor(
    readonly options: SpawnOptions,
    child: ChildProcess,
  ) {
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  static spawn(options: SpawnOptions): HeidrunProcess {
    const fd = openSync(options.logFile, "a");
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      HEIDRUN_SERVICES: "external",
      HEIDRUN_LOG_LEVEL: "info",
    };
    for (const [name, value] of Object.entries(options.env)) if (value !== undefined) env[name] = value;
    const child = spawn(process.execPath, ["--import", "tsx", ...options.argv], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    return new HeidrunProcess(options, child);
  }

  get name(): string {
    return this.options.name;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  log(): string {
    try {
      return readFileSync(this.options.logFile, "utf8");
    } catch {
      return "";
    }
  }

  /** The first log line matching `pattern`; rejects when the process exits first or the time is up. */
  async waitForLog(pattern: RegExp, timeoutMs: number): Promise<string> {
    const until = Date.now() + timeoutMs;
    let scanned = 0;
    for (;;) {
      const text = this.log();
      const start = text.lastIndexOf("\n", Math.max(0, scanned - 1)) + 1;
      for (const line of text.slice(start).split("\n")) if (pattern.test(line)) return line;
      scanned = text.length;
      if (!this.running) {
        throw new Error(`${this.name} exited (${JSON.stringify(this.#exit)}) before logging ${pattern}`);
      }
      if (Date.now() > until) throw new Error(`${this.name} did not log ${pattern} in ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) process.kill(this.pid, signal);
  }

  /** kill -9: no shutdown hook runs, whatever it was doing stops mid-way. */
  async kill(): Promise<Exit> {
    this.signal("SIGKILL");
    return this.exited;
  }

  /** SIGTERM (a graceful stop), then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 20_000): Promise<Exit> {
    if (!this.running) return this.exited;
    this.signal("SIGCONT");
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}
