import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chownSync, existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort } from "@heidrun/observability";
import type { ServerBinaries } from "./binaries";

export interface PrivateServices {
  databaseUrl: string;
  redisUrl: string;
  /** Where PostgreSQL keeps its data (not under `dir` when its user cannot reach `dir`). */
  postgresData: string;
  stop(): Promise<void>;
}

/** PostgreSQL refuses to run as root; as root we run its tools as the `postgres` user. */
function asPostgresUser(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
}

function run(command: string, args: string[]): void {
  const [cmd, argv] = asPostgresUser(command, args);
  execFileSync(cmd, argv, { stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * Where PostgreSQL keeps its data and log: under `dir`, unless we are root and the `postgres` user cannot
 * enter `dir` (a checkout inside a mode-0700 folder such as a `mktemp -d` one). Then initdb could not even
 * change into it, so the data goes to that user's home, in a folder named after `dir`, so that each checkout
 * keeps its own.
 */
function postgresHome(dir: string): string {
  if (process.getuid?.() !== 0) return dir;
  if (spawnSync("runuser", ["-u", "postgres", "--", "test", "-x", dir]).status === 0) return dir;
  const home = execFileSync("getent", ["passwd", "postgres"]).toString().trim().split(":")[5];
  if (!home)
    throw new Error(`the postgres user cannot enter ${dir} and has no home directory: move the checkout`);
  const key = createHash("sha256").update(resolve(dir)).digest("hex").slice(0, 16);
  const fallback = join(home, "heidrun-private", key);
  run("mkdir", ["-p", "-m", "0700", fallback]);
  return fallback;
}

async function startPostgres(
  bin: ServerBinaries,
  dir: string,
): Promise<{ url: string; data: string; stop(): Promise<void> }> {
  const home = postgresHome(dir);
  const data = join(home, "postgres");
  if (!existsSync(join(data, "PG_VERSION"))) {
    if (home === dir) {
      mkdirSync(data, { recursive: true, mode: 0o700 });
      if (process.getuid?.() === 0) {
        const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
        const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
        chownSync(dir, uid, gid);
        chownSync(data, uid, gid);
      }
    }
    run(bin.initdb, ["-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-instructions"]);
  }
  const port = await freePort();
  const options = `-p ${port} -k ${data} -c listen_addresses=127.0.0.1`;
  run(bin.pgCtl, ["-D", data, "-o", options, "-l", join(home, "postgres.log"), "-w", "-t", "60", "start"]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/heidrun`,
    data,
    async stop() {
      run(bin.pgCtl, ["-D", data, "-m", "fast", "-w", "stop"]);
    },
  };
}

async function startRedis(bin: ServerBinaries, dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const data = join(dir, "redis");
  mkdirSync(data, { recursive: true });
  const port = await freePort();
  // The same durability the queue requires in production: AOF, fsync on every write, never evict.
  const child: ChildProcess = spawn(
    bin.redisServer,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      data,
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
    ].concat(["--maxmemory-policy", "noeviction", "--save", "", "--logfile", join(dir, "redis.log")]),
    { stdio: "ignore" },
  );
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("spawn", () => resolve());
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Starts PostgreSQL and Redis of the project's own under `dir`, on spare loopback ports. */
export async function startPrivateServices(bin: ServerBinaries, dir: string): Promise<PrivateServices> {
  mkdirSync(dir, { recursive: true });
  const postgres = await startPostgres(bin, dir);
  let redis: Awaited<ReturnType<typeof startRedis>>;
  try {
    redis = await startRedis(bin, dir);
  } catch (error) {
    await postgres.stop();
    throw error;
  }
  return {
    databaseUrl: postgres.url,
    redisUrl: redis.url,
    postgresData: postgres.data,
    async stop() {
      await Promise.allSettled([redis.stop(), postgres.stop()]);
    },
  };
}
