import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@heidrun/observability";
import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForServing } from "../simulate/health";
import { startCli } from "./start-cli";

const ctx = useTestContext();
const dir = mkdtempSync(join(tmpdir(), "heidrun-start-listeners-"));
const held: Server[] = [];
afterAll(async () => {
  await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

/** A loopback port another process holds, as a second fleet would. */
function holdPort(): Promise<number> {
  const server = createServer();
  held.push(server);
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
}

let services: Record<string, string>;
beforeAll(() => {
  services = {
    HEIDRUN_SERVICES: "external",
    DATABASE_URL: ctx().databaseUrl,
    REDIS_URL: ctx().redisUrl,
  };
});

function settingsFile(name: string, settings: object): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({ queue: { prefix: ctx().redisPrefix }, redis: { durabilityCheck: "off" }, ...settings }),
  );
  return file;
}

const STACK_LINE = /^\s+at /m;

describe("heidrun start and its listeners", () => {
  it("exits non-zero when a part dies, after stopping the rest, and the part says why in one line", async () => {
    const workerMetrics = await holdPort();
    const started = startCli({
      ...services,
      HEIDRUN_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
      HEIDRUN_DASHBOARD_ADDR: `127.0.0.1:${await freePort()}`,
      HEIDRUN_INGRESS_METRICS_PORT: "0",
      HEIDRUN_CONFIG: settingsFile("worker-port-taken", { metrics: { workerPort: workerMetrics } }),
    });
    const { code } = await started.exited;
    expect(code, started.stderr()).toBe(69);
    expect(started.stderr()).toContain(
      `heidrun: 127.0.0.1:${workerMetrics} (worker metrics) is already in use: set metrics.workerPort in the settings file (0: any free port) to move it\n`,
    );
    expect(started.stderr()).toMatch(/heidrun: worker exited \(69\); stopping the fleet/);
    expect(started.stderr()).not.toMatch(STACK_LINE);
  }, 120_000);

  it("refuses a taken address its variable asked for, in one line naming the variable", async () => {
    const grpc = await holdPort();
    const started = startCli({
      ...services,
      HEIDRUN_GRPC_ADDR: `127.0.0.1:${grpc}`,
      HEIDRUN_CONFIG: settingsFile("grpc-taken", {}),
    });
    expect((await started.exited).code).toBe(69);
    expect(started.stderr()).toBe(
      `heidrun: 127.0.0.1:${grpc} (gRPC ingress) is already in use: set HEIDRUN_GRPC_ADDR to move it\n`,
    );
  }, 60_000);

  it("moves a listener no variable placed off a taken port, says where, and runs", async () => {
    const metrics = await holdPort();
    const grpc = `127.0.0.1:${await freePort()}`;
    const started = startCli({
      ...services,
      HEIDRUN_GRPC_ADDR: grpc,
      HEIDRUN_DASHBOARD_ADDR: `127.0.0.1:${await freePort()}`,
      HEIDRUN_CONFIG: settingsFile("metrics-taken", { metrics: { ingressPort: metrics, workerPort: 0 } }),
    });
    try {
      await started.said(
        new RegExp(
          `heidrun: 127\\.0\\.0\\.1:${metrics} \\(ingress metrics\\) is in use; using 127\\.0\\.0\\.1:\\d+ instead \\(HEIDRUN_INGRESS_METRICS_PORT sets it\\)\n`,
        ),
      );
      expect(await waitForServing(grpc, { timeoutMs: 90_000, abort: started.exited }), started.stderr()).toBe(
        "SERVING",
      );
    } finally {
      started.child.kill("SIGTERM");
    }
    expect(await started.exited).toEqual({ code: 0, signal: null });
  }, 120_000);
});
