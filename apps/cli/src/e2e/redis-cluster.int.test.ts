import { createDashboardDeps, discoverQueueNames, queueDepth } from "@heidrun/dashboard";
import { PriceCache, type PriceCacheLoad, priceChannel, seedExampleCatalogIfEmpty } from "@heidrun/db";
import { connectRedis } from "@heidrun/queue";
import { type LocalRedisCluster, startRedisCluster, useTestContext } from "@heidrun/testing";
import { Cluster, type Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeidrunClient } from "../simulate/client";
import { runSimulation, verdict } from "../simulate/run";
import { ADMIN, type InProcessFleet, startInProcessFleet } from "./fleet";
import { simulateOptions, sink } from "./simulation";

/**
 * HEIDRUN_REDIS_CLUSTER_NODES end to end: the ingress and worker wiring (createIngressDeps, runWorker) and the
 * dashboard's, built from the configuration, put every Redis use on a 3-master Cluster; REDIS_URL points at
 * the test's ordinary Redis, which must stay untouched.
 */
const ctx = useTestContext();
let redisCluster: LocalRedisCluster;
let fleet: InProcessFleet;

beforeAll(async () => {
  redisCluster = await startRedisCluster();
  await seedExampleCatalogIfEmpty(ctx().db, { actor: "test", currency: "USD" });
  fleet = await startInProcessFleet({
    ...ctx(),
    redisClusterNodes: redisCluster.nodes.map(({ host, port }) => `${host}:${port}`).join(","),
  });
});
afterAll(async () => {
  await fleet?.stop();
  await redisCluster?.stop();
});

describe("the fleet with HEIDRUN_REDIS_CLUSTER_NODES", () => {
  it("queues, settles and shows every job through the Cluster; books match and REDIS_URL is unused", async () => {
    expect(fleet.queueConnection).toBeInstanceOf(Cluster);
    const report = await runSimulation(
      simulateOptions(fleet.address, ADMIN.key, { runId: "cluster", count: 120, accounts: 4 }),
      sink(),
    );
    expect(verdict(report)).toEqual([
      expect.stringMatching(/^books match: 4 accounts, \d+ settled and \d+ failed settlements as expected/),
    ]);
    const settled = report.check?.expectedSettled ?? 0;
    const failed = report.check?.expectedFailed ?? 0;
    expect(settled).toBeGreaterThan(0);
    expect(failed).toBeGreaterThan(0);

    // Every settlement was a job in the Cluster's settlement queue: settled ones completed, unpriced ones failed.
    const prefix = ctx().redisPrefix;
    const cluster = fleet.queueConnection as Cluster;
    expect(await cluster.zcard(`${prefix}:settlements:completed`)).toBe(settled);
    expect(await cluster.zcard(`${prefix}:settlements:failed`)).toBe(failed);
    expect(await ctx().redis.keys(`${prefix}*`)).toEqual([]);

    // The dashboard, wired from the same configuration, reads the same queue from the Cluster.
    const dashboard = await createDashboardDeps(fleet.config);
    try {
      expect(dashboard.deps.redis).toBeInstanceOf(Cluster);
      expect(await discoverQueueNames(dashboard.deps.redis, prefix)).toEqual(["settlements"]);
      const depth = await queueDepth(dashboard.producer.queue);
      expect(depth).toMatchObject({ waiting: 0, active: 0, completed: settled, failed });
    } finally {
      await dashboard.close();
    }
  });

  it("announces a price set at the ingress to a price cache subscribed through the Cluster", async () => {
    const subscriber = connectRedis(fleet.config.current(), "subscriber");
    const cache = new PriceCache({
      db: ctx().db,
      channel: priceChannel(ctx().redisPrefix),
      subscriber: subscriber as Redis,
      // Far beyond the test: only the pub/sub message can bring the new version in.
      refreshIntervalMs: 3_600_000,
    });
    const client = new HeidrunClient({ target: fleet.address, key: ADMIN.key });
    try {
      await cache.start();
      expect(cache.pubsubUp).toBe(true);
      const heard = new Promise<PriceCacheLoad>((resolve) =>
        cache.on("loaded", (load) => load.reason === "message" && resolve(load)),
      );
      const answer = await client.call(
        "pricing.setPricingConfig",
        client.pricing.setPricingConfig.bind(client.pricing),
        {
          requestId: "cluster-price-1",
          price: {
            providerId: "cluster-test",
            model: "m-1",
            inputMicrosPerMtok: 1_000_000n,
            outputMicrosPerMtok: 2_000_000n,
            effectiveFrom: new Date("2026-01-01T00:00:00.000Z"),
            version: 0n,
            currency: "",
            tiers: [],
          },
        },
      );
      if (!answer.ok) throw new Error(`SetPricingConfig failed: ${answer.message}`);
      const load = await heard;
      expect(load.kind).toBe("incremental");
      expect(
        load.added.map((priced) => [priced.providerId, priced.model, priced.inputMicrosPerMtok]),
      ).toEqual([["cluster-test", "m-1", 1_000_000n]]);
    } finally {
      client.close();
      await cache.stop();
      subscriber.disconnect();
    }
  });
});
