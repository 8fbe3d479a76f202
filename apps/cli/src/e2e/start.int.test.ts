import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@heidrun/observability";
import { afterAll, describe, expect, it } from "vitest";
import { PRIVATE_SERVICES_DIR } from "../services/resolve";
import { checkHealth, waitForServing } from "../simulate/health";
import { answers, commandLine, environmentOf, isAlive, processTree } from "./process-tree";
import { startCli } from "./start-cli";

const dir = mkdtempSync(join(tmpdir(), "heidrun-start-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
