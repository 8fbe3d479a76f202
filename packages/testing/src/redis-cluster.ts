import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "@heidrun/observability";
import { Redis } from "ioredis";

export interface LocalRedisCluster {
  /** Seed nodes for ioredis `Cluster`. */
  nodes: { host: string; port: number }[];
  /** Kills the nodes and removes their directory. */
  stop(): Promise<void>;
}

const run = promisify(execFile);

function connect(port: number): Redis {
  const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on("error", () => {});
  return redis;
}

/** Polls `check` on a node until it holds (a node's state changes with no event a client can await). */
async function until(port: number, check: (redis: Redis) => Promise<boolean>, what: string): Promise<void> {
  const redis = connect(port);
  try {
    for (let attempt = 0; attempt < 300; attempt++) {
      try {
        if (redis.status === "wait") await redis.connect();
        if (await check(redis)) return;
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`Redis Cluster node ${port}: ${what} did not happen within 15 s`);
  } finally {
    redis.disconnect();
  }
}

/**
 * Three Redis Cluster masters on spare loopback ports (each with its own cluster-bus port), joined with
 * `redis-cli --cluster create`, ready once every node says cluster_state:ok. No AOF: tests only.
 */
export async function startRedisCluster(masters = 3): Promise<LocalRedisCluster> {
  for (const binary of ["redis-server", "redis-cli"]) {
    await run(binary, ["--version"]).catch((error: unknown) => {
      throw new Error(
        `the Redis Cluster test starts its own nodes and needs ${binary} on PATH ` +
          `(apt-get install redis-server): ${(error as Error).message}`,
      );
    });
  }
  const dir = mkdtempSync(join(tmpdir(), "heidrun-redis-cluster-"));
  const ports: number[] = [];
  const processes: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      processes.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        return exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const busPort = await freePort();
      ports.push(port);
      processes.push(
        spawn(
          "redis-server",
          [
            ...["--port", String(port), "--bind", "127.0.0.1", "--dir", dir],
            ...["--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`],
            ...["--cluster-port", String(busPort), "--cluster-node-timeout", "5000"],
            ...["--save", "", "--appendonly", "no"],
          ],
          { stdio: "ignore" },
        ),
      );
    }
    for (const port of ports) await until(port, async (r) => (await r.ping()) === "PONG", "PING");
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    for (const port of ports) {
      await until(
        port,
        async (r) => String(await r.cluster("INFO")).includes("cluster_state:ok"),
        "cluster_state:ok",
      );
    }
    return { nodes: ports.map((port) => ({ host: "127.0.0.1", port })), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
