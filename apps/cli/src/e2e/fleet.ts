import { type ApiKey, type ConfigStore, configStoreFor, parseEnv } from "@heidrun/config";
import { createDb, createPool, expireDuePreauths } from "@heidrun/db";
import { createIngress, createIngressDeps } from "@heidrun/ingress";
import type { QueueConnection } from "@heidrun/queue";
import { runWorker } from "@heidrun/worker";

export interface InProcessFleet {
  address: string;
  config: ConfigStore;
  /** The ingress's queue connection (one Redis, or a Cluster when redisClusterNodes was given). */
  queueConnection: QueueConnection;
  stop(): Promise<void>;
}

export const ADMIN: ApiKey = { id: "simadmin", key: "simulator-admin-key-000001", scope: "admin" };

/**
 * An ingress and a settlement worker in this process against the given services, with quick settings:
 * the test's queue prefix, short linger, no durability check (the test Redis is not durable), and an expiry
 * pass every 200 ms beside the worker. `redisClusterNodes` is HEIDRUN_REDIS_CLUSTER_NODES.
 */
export async function startInProcessFleet(services: {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  redisClusterNodes?: string;
}): Promise<InProcessFleet> {
  const { HEIDRUN_REDIS_CLUSTER_NODES } = parseEnv({
    HEIDRUN_REDIS_CLUSTER_NODES: services.redisClusterNodes,
  });
  const config = configStoreFor(
    services,
    {
      queue: { prefix: services.redisPrefix, backoffMs: 200 },
      redis: { durabilityCheck: "off" },
      worker: { lingerMs: 10, shutdownGraceMs: 5000 },
      preauth: { sweepIntervalMs: 200 },
      ingress: { healthCheckIntervalMs: 200, shutdownGraceMs: 2000 },
    },
    {
      redisClusterNodes: HEIDRUN_REDIS_CLUSTER_NODES,
      dashboardAddr: "127.0.0.1:3000",
      services: "auto",
      apiKeys: [ADMIN],
    },
  );
  const owned = createIngressDeps(config);
  await owned.start();
  const ingress = createIngress(owned.deps);
  const { port } = await ingress.start("127.0.0.1:0");

  let stopWorker!: (reason: string) => void;
  const stopSignal = new Promise<string>((resolve) => {
    stopWorker = resolve;
  });
  let workerStarted!: () => void;
  const started = new Promise<void>((resolve) => {
    workerStarted = resolve;
  });
  const worker = runWorker(config, { stopSignal, onStarted: () => workerStarted() });
  await Promise.race([started, worker.then(() => Promise.reject(new Error("the worker stopped at start")))]);

  // Holds left to lapse must expire while the test waits; the sweep is safe beside any other sweeper.
  const pool = createPool(services.databaseUrl, { max: 1, applicationName: "heidrun-sim-expiry" });
  const db = createDb(pool);
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweeper = setInterval(() => {
    sweeping = sweeping.then(() =>
      expireDuePreauths(db, { limit: 500, actor: "test:expiry" }).catch(() => 0),
    );
  }, 200);

  return {
    address: `127.0.0.1:${port}`,
    config,
    queueConnection: owned.deps.redis,
    async stop() {
      clearInterval(sweeper);
      await sweeping;
      await pool.end();
      stopWorker("test over");
      await worker;
      await ingress.stop();
      await owned.close();
    },
  };
}
