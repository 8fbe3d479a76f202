import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@heidrun/observability";
import { Redis } from "ioredis";

export interface PrivateRedis {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  /** Stops the server (SIGKILL when `hard`), keeping its directory so a restart finds its AOF. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
}

/** A redis-server of a test's own, on a spare loopback port in a temp directory; durable unless told otherwise. */
export async function startPrivateRedis(
  args: string[] = ["--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"],
): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "heidrun-redis-"));
  const launch = async () => {
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", ...args],
      {
        stdio: "ignore",
      },
    );
    await waitForPing(port);
    return child;
  };
  const handle: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    process: await launch(),
    async stop(hard = false) {
      const child = handle.process;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(hard ? "SIGKILL" : "SIGTERM");
      await exited;
    },
    async restart() {
      await handle.stop();
      handle.process = await launch();
    },
    async destroy() {
      await handle.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

async function waitForPing(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const redis = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    redis.on("error", () => {});
    try {
      await redis.connect();
      if ((await redis.ping()) === "PONG") return;
    } catch {
      // not up yet
    } finally {
      redis.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer`);
}
