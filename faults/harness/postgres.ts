import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runMigrations } from "@heidrun/db";
import { freePort } from "@heidrun/testing";

/** Debian keeps the server binaries off PATH; the newest installed version wins. */
function postgresBin(name: string): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const candidate = join(root, version, "bin", name);
    if (existsSync(candidate)) return candidate;
  }
  return name;
}

const IS_ROOT = process.getuid?.() === 0;

/** PostgreSQL refuses to run as root: as root its tools run as the `postgres` user. */
function asPostgres(command: string, args: string[]): string {
  const [cmd, argv] = IS_ROOT ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
  return execFileSync(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] }).toString();
}

function giveToPostgres(path: string): void {
  if (!IS_ROOT) return;
  execFileSync("chown", ["-R", "postgres:postgres", path]);
}

/** The database every private server holds, migrated. */
export const DATABASE = "heidrun";

/**
 * Builds a migrated data directory once (initdb, start, migrate, stop), for `PrivatePostgres.start` to copy:
 * a copy is ten times faster than initdb on a busy machine.
 */
export async function buildPostgresTemplate(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "heidrun-faults-pgtemplate-"));
  const data = join(dir, "data");
  mkdirSync(data, { mode: 0o700 });
  giveToPostgres(dir);
  asPostgres(postgresBin("initdb"), [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--no-instructions",
    "--no-sync",
  ]);
  const server = new PrivatePostgres(dir, await freePort());
  server.start();
  try {
    await runMigrations(server.url);
  } finally {
    server.stop("fast");
  }
  return data;
}

/**
 * A PostgreSQL server of a scenario's own that it may pause, stop at once, and start again. fsync is off: the
 * scenarios kill processes, never the machine, so the page cache survives every fault they inject.
 */
export class PrivatePostgres {
  readonly data: string;

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.data = join(dir, "data");
  }

  /** A server on a copy of the template directory, started. */
  static async fromTemplate(template: string): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), "heidrun-faults-pg-"));
    cpSync(template, join(dir, "data"), { recursive: true });
    rmSync(join(dir, "data", "postmaster.pid"), { force: true });
    giveToPostgres(dir);
    const server = new PrivatePostgres(dir, await freePort());
    server.start();
    return server;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${DATABASE}`;
  }

  start(): void {
    const options = `-p ${this.port} -k ${this.data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    asPostgres(postgresBin("pg_ctl"), [
      "-D",
      this.data,
      "-o",
      options,
      "-l",
      join(this.dir, "postgres.log"),
      "-w",
      "-t",
      "120",
      "start",
    ]);
  }

  /** `immediate`: every backend dies at once, as after a crash (recovery replays the WAL at the next start). */
  stop(mode: "fast" | "immediate" = "fast"): void {
    asPostgres(postgresBin("pg_ctl"), ["-D", this.data, "-m", mode, "-w", "-t", "120", "stop"]);
  }

  /** The postmaster and every backend it forked: SIGSTOP on them all freezes the server as a whole. */
  pids(): number[] {
    const postmaster = Number(readFileSync(join(this.data, "postmaster.pid"), "utf8").split("\n")[0]);
    const children = readdirSync("/proc")
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        try {
          // Field 4 of /proc/PID/stat is the parent pid; the command name (field 2) may hold spaces.
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
          return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === postmaster;
        } catch {
          return false;
        }
      })
      .map(Number);
    return [postmaster, ...children];
  }

  pause(): number[] {
    const pids = this.pids();
    for (const pid of pids) process.kill(pid, "SIGSTOP");
    return pids;
  }

  /** Continues exactly what pause() stopped (a backend forked meanwhile cannot exist: the postmaster slept). */
  resume(pids: number[]): void {
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        // gone already
      }
    }
  }

  destroy(): void {
    try {
      const pidFile = join(this.data, "postmaster.pid");
      if (existsSync(pidFile)) {
        this.resume(this.pids());
        this.stop("immediate");
      }
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
