import { setTimeout as sleep } from "node:timers/promises";
import { jobIdFor } from "@heidrun/queue";
import { freePort, startPrivateRedis } from "@heidrun/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { acknowledgedSettlements, NO_VIOLATIONS } from "../harness/checkers";
import { Cluster } from "../harness/cluster";
import { creditAccounts, preAuthLoad, trackLoad } from "../harness/load";
import { CLI_MAIN, type HeidrunProcess } from "../harness/processes";

let cluster: Cluster;
let admin: Redis;

beforeAll(async () => {
  // Attempts get 10 s, so an answer from the ingress (UNAVAILABLE after its 5 s Redis command timeout) comes first.
  cluster = await Cluster.start({
    name: "redis",
    postgresTemplate: inject("postgresTemplate"),
    deadlineMs: 10_000,
  });
  await Promise.all([cluster.startIngress(), cluster.startWorkers(2)]);
  await creditAccounts(cluster.client, "redis");
  admin = new Redis(cluster.redis.url, { maxRetriesPerRequest: null, retryStrategy: () => 100 });
  admin.on("error", () => {});
});
afterAll(async () => {
  admin?.disconnect();
  await cluster?.close();
});

describe("the queue's Redis fails", () => {
  it("kill -9 and a restart from the AOF: every acknowledged job is still there", async () => {
    const loads = Promise.all([
      trackLoad(cluster.client, { prefix: "aof", events: 2000, perCall: 5, concurrency: 10 }),
      preAuthLoad(cluster.client, { prefix: "aof", flows: 200, concurrency: 4 }),
    ]);
    await cluster.untilSettled((await cluster.settledCount()) + 300);
    await cluster.redis.stop(true);
    await sleep(2000);
    await cluster.redis.restart();
    await loads;
    await cluster.drain();
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("SIGSTOP for 20 s: calls answer UNAVAILABLE within their deadline, and nothing hangs", async () => {
    const before = cluster.client.records.length;
    let paused = { from: 0, to: 0 };
    const load = trackLoad(cluster.client, { prefix: "stop", events: 2400, concurrency: 12 });
    await cluster.untilSettled((await cluster.settledCount()) + 200);
    cluster.redis.process.kill("SIGSTOP");
    paused = { from: Date.now(), to: Date.now() + 20_000 };
    await sleep(20_000);
    cluster.redis.process.kill("SIGCONT");
    await load;
    const during = cluster.client.records
      .slice(before)
      .flatMap((r) => r.attempts.map((a) => ({ ...a, began: r.startedAt + a.at })))
      .filter((a) => a.began >= paused.from && a.began + a.ms <= paused.to);
    expect(during.length).toBeGreaterThan(0);
    expect([...new Set(during.map((a) => a.code))]).toEqual(["UNAVAILABLE"]);
    await cluster.drain();
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("at its memory limit with noeviction: RESOURCE_EXHAUSTED, and never OK for a job that was not stored", async () => {
    const memory = await admin.info("memory");
    const used = Number(/used_memory:(\d+)/.exec(memory)![1]);
    await admin.config("SET", "maxmemory", String(used + 256 * 1024));
    let full = true;
    const load = trackLoad(cluster.client, { prefix: "oom", events: 3000, perCall: 10, concurrency: 8 });
    for (let round = 0; round < 600 && full; round++) {
      const exhausted = cluster.client.records.some((r) =>
        r.attempts.some((a) => a.code === "RESOURCE_EXHAUSTED"),
      );
      if (exhausted) break;
      await sleep(100);
    }
    await sleep(3000);
    // Everything answered OK so far is a job in Redis (or already settled), though Redis refuses writes.
    const acked = [...acknowledgedSettlements(cluster.client.records)].filter((id) => id.startsWith("oom-"));
    const stored = await Promise.all(
      acked.map((id) => admin.exists(`{heidrun}:settlements:${jobIdFor(id)}`)),
    );
    const { rows } = await cluster.pool.query(
      "SELECT request_id FROM settlements WHERE request_id = ANY($1)",
      [acked],
    );
    const settled = new Set(rows.map((r) => r.request_id as string));
    expect(acked.filter((id, i) => stored[i] === 0 && !settled.has(id))).toEqual([]);
    await admin.config("SET", "maxmemory", "0");
    full = false;
    await load;
    const codes = new Set(cluster.client.records.flatMap((r) => r.attempts.map((a) => a.code)));
    expect(codes.has("RESOURCE_EXHAUSTED")).toBe(true);
    await cluster.drain();
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("Heidrun started against a Redis without AOF and with an evicting policy: refuses, or warns loudly", async () => {
    const unsafe = await startPrivateRedis(["--appendonly", "no", "--maxmemory-policy", "allkeys-lru"]);
    const started: HeidrunProcess[] = [];
    try {
      const start = async (policy: string) => {
        const env = {
          REDIS_URL: unsafe.url,
          HEIDRUN_CONFIG: cluster.writeSettings(policy, { redis: { durabilityCheck: policy } }),
          HEIDRUN_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
        };
        const pair = [
          cluster.spawn(`ingress-${policy}`, [CLI_MAIN, "ingress"], env),
          cluster.spawn(`worker-${policy}`, [CLI_MAIN, "worker"], env),
        ];
        started.push(...pair);
        return pair;
      };
      const problems = [
        /appendonly is no, must be yes/,
        /appendfsync is everysec, must be always/,
        /maxmemory-policy is allkeys-lru, must be noeviction/,
      ];

      for (const refusing of await start("refuse")) {
        expect(await refusing.exited).toEqual({ code: 1, signal: null });
        const refusal = refusing
          .log()
          .split("\n")
          .find((line) => line.includes('"level":50'))!;
        for (const problem of problems) expect(refusal).toMatch(problem);
        expect(refusing.log()).toMatch(/set redis.durabilityCheck to "warn" to run anyway/);
      }

      const [ingress, worker] = await start("warn");
      await ingress!.waitForLog(/"msg":"ingress listening"/, 90_000);
      await worker!.waitForLog(/"msg":"settlement worker started"/, 90_000);
      for (const warning of [ingress!, worker!]) {
        const line = await warning.waitForLog(/Redis may lose acknowledged jobs/, 1000);
        expect(line).toMatch(/"level":40/);
        for (const problem of problems) expect(line).toMatch(problem);
        expect(await warning.stop()).toEqual({ code: 0, signal: null });
      }
    } finally {
      await Promise.all(started.map((p) => p.stop(5000)));
      await unsafe.destroy();
    }
  });
});
