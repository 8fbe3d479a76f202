import { type PrivateRedis, startPrivateRedis, startRedisCluster } from "@heidrun/testing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createRedisCluster } from "./connection";
import { checkRedisDurability, enforceRedisDurability } from "./durability";

const servers: PrivateRedis[] = [];
const clients: Redis[] = [];
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all(servers.map((s) => s.destroy()));
});

async function clientFor(args?: string[]): Promise<Redis> {
  const server = await startPrivateRedis(args);
  servers.push(server);
  const client = new Redis(server.url);
  clients.push(client);
  return client;
}

const log = {
  warnings: [] as string[],
  warn(_o: object, m: string) {
    this.warnings.push(m);
  },
  error() {},
};

describe("Redis durability check", () => {
  it("passes a durable Redis", async () => {
    expect(await checkRedisDurability(await clientFor())).toEqual({ ok: true, problems: [] });
  });

  it("names every unsafe setting, refuses under 'refuse' and warns under 'warn'", async () => {
    const unsafe = await clientFor(["--appendonly", "no", "--maxmemory-policy", "allkeys-lru"]);
    const report = await checkRedisDurability(unsafe);
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(3);
    expect(report.problems[0]).toMatch(/^appendonly is no, must be yes/);
    expect(report.problems[1]).toMatch(/^appendfsync is everysec, must be always/);
    expect(report.problems[2]).toMatch(/^maxmemory-policy is allkeys-lru, must be noeviction/);
    await expect(enforceRedisDurability(unsafe, "refuse", log)).rejects.toThrow(/redis\.durabilityCheck/);
    await enforceRedisDurability(unsafe, "warn", log);
    expect(log.warnings.at(-1)).toMatch(/Redis may lose acknowledged jobs/);
  });
});

describe("Redis durability check on a Redis Cluster", () => {
  it("reads every master, naming the node of each problem, once the Cluster is ready", async () => {
    const redisCluster = await startRedisCluster();
    // Not awaited ready: the check waits for the Cluster to know its masters.
    const connection = createRedisCluster(redisCluster.nodes, "worker");
    try {
      const report = await checkRedisDurability(connection);
      expect(report.ok).toBe(false);
      // The test nodes run without AOF (appendonly no, appendfsync everysec by default) but with noeviction.
      const expected = redisCluster.nodes.flatMap(({ port }) => [
        `127.0.0.1:${port}: appendonly is no, must be yes: without the AOF a restart loses every queued job`,
        `127.0.0.1:${port}: appendfsync is everysec, must be always: anything else may lose up to a second of acknowledged jobs on a crash`,
      ]);
      expect([...report.problems].sort()).toEqual(expected.sort());
      await expect(enforceRedisDurability(connection, "refuse", log)).rejects.toThrow(
        /^Redis may lose acknowledged jobs: 127\.0\.0\.1:\d+: /,
      );
    } finally {
      connection.disconnect();
      await redisCluster.stop();
    }
  });
});
