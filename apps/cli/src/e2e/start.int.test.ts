import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@heidrun/observability";
import { afterAll, describe, expect, it } from "vitest";
import { PRIVATE_SERVICES_DIR } from "../services/resolve";
import { checkHealth, waitForServing } from "../simulate/health";
import { answers, commandLine, environmentOf, isAlive, processTree } from "./process-tree";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "heidrun-start-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/** `heidrun start` as `npm start` runs it, with this environment over ours (minus the service URLs). */
function startCli(env: Record<string, string>): Started {
  const { DATABASE_URL: _db, REDIS_URL: _redis, HEIDRUN_API_KEYS: _keys, ...inherited } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "start"], {
    env: { ...inherited, HEIDRUN_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stderr: () => stderr };
}

describe("heidrun start (npm start)", () => {
  it("with HEIDRUN_SERVICES=private brings the fleet up on its own services and leaves nothing running", async () => {
    const postmasterPid = join(PRIVATE_SERVICES_DIR, "postgres", "postmaster.pid");
    if (existsSync(postmasterPid)) {
      throw new Error(
        `a private PostgreSQL already runs from ${PRIVATE_SERVICES_DIR} (npm start?): stop it first`,
      );
    }
    const [grpcPort, dashboardPort] = [await freePort(), await freePort()];
    const settings = join(dir, "settings.json");
    // Any free metrics port, so this fleet does not meet another on the default one.
    writeFileSync(settings, JSON.stringify({ metrics: { ingressPort: 0, workerPort: 0 } }));
    const started = startCli({
      HEIDRUN_SERVICES: "private",
      HEIDRUN_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
      HEIDRUN_DASHBOARD_ADDR: `127.0.0.1:${dashboardPort}`,
      HEIDRUN_CONFIG: settings,
    });
    const pid = started.child.pid!;
    try {
      const serving = await waitForServing(`127.0.0.1:${grpcPort}`, {
        timeoutMs: 150_000,
        abort: started.exited,
      });
      expect(serving, started.stderr()).toBe("SERVING");
    } catch (error) {
      started.child.kill("SIGTERM");
      await started.exited;
      throw error;
    }
    expect(started.stderr()).toMatch(/HEIDRUN_SERVICES=private: started private PostgreSQL and Redis/);
    const tree = processTree(pid);
    const ingress = tree.find((p) => commandLine(p).endsWith(" ingress"));
    expect(tree.map(commandLine).filter((c) => / (ingress|worker|dashboard)$/.test(c))).toHaveLength(3);
    const databaseUrl = environmentOf(ingress!, "DATABASE_URL")!;
    const redisUrl = environmentOf(ingress!, "REDIS_URL")!;
    const postgresPort = Number(new URL(databaseUrl).port);
    const redisPort = Number(new URL(redisUrl).port);
    const postmaster = Number(readFileSync(postmasterPid, "utf8").split("\n")[0]);
    expect([await answers(postgresPort), await answers(redisPort), isAlive(postmaster)]).toEqual([
      true,
      true,
      true,
    ]);
    expect(
      tree.some((p) => commandLine(p).startsWith("redis-server") || /redis-server/.test(commandLine(p))),
    ).toBe(true);

    started.child.kill("SIGTERM");
    expect(await started.exited).toEqual({ code: 0, signal: null });
    expect(started.stderr()).toMatch(/private services stopped/);
    expect([...tree, postmaster].filter(isAlive)).toEqual([]);
    expect([await answers(postgresPort), await answers(redisPort), await answers(grpcPort)]).toEqual([
      false,
      false,
      false,
    ]);
    expect(await checkHealth(`127.0.0.1:${grpcPort}`)).toMatch(/^error: /);
  }, 240_000);

  it("with the server binaries hidden from PATH stops with what to install", async () => {
    const started = startCli({ HEIDRUN_SERVICES: "private", PATH: join(dir, "empty-bin") });
    expect(await started.exited).toEqual({ code: 69, signal: null });
    expect(started.stderr()).toMatch(
      /cannot start services: missing: [a-z_, -]*redis-server[\s\S]*apt-get install postgresql redis-server[\s\S]*docker compose up -d postgres redis/,
    );
  }, 60_000);
});
