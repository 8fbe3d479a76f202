import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from "ioredis";

export type RedisRole = "producer" | "worker" | "subscriber";

/** What the producer and the workers accept: one Redis, or a Redis Cluster when the prefix has a hash tag. */
export type QueueConnection = Redis | Cluster;

/**
 * Producers in a request path must fail fast when Redis is down (no offline queue, no long retries), so the
 * caller hears UNAVAILABLE instead of waiting; BullMQ workers need `maxRetriesPerRequest: null` to block.
 */
const BY_ROLE: Record<RedisRole, RedisOptions> = {
  producer: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 5000,
  },
  worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
  subscriber: { maxRetriesPerRequest: null },
};

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    ...BY_ROLE[role],
    connectionName: `heidrun-${role}`,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    ...extra,
  });
  // Errors surface through the commands that fail; an unhandled 'error' event would crash the process.
  redis.on("error", () => {});
  return redis;
}

/**
 * The same roles on a Redis Cluster. BullMQ works on a Cluster only when all of a queue's keys hash to one
 * slot: the queue prefix must carry a hash tag (the default `{heidrun}` does), and so do the idempotency keys,
 * which live under the same prefix.
 */
export function createRedisCluster(
  nodes: ClusterNode[],
  role: RedisRole,
  extra: ClusterOptions = {},
): Cluster {
  const { enableOfflineQueue, ...perNode } = BY_ROLE[role];
  const cluster = new Cluster(nodes, {
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    ...extra,
    redisOptions: { ...perNode, connectionName: `heidrun-${role}`, ...extra.redisOptions },
  });
  cluster.on("error", () => {});
  return cluster;
}

/** Where a process's Redis is (a Config of @heidrun/config is one): one server, or a Cluster's seed nodes. */
export interface RedisTarget {
  redisUrl: string;
  /** When not empty the Cluster is used for everything and redisUrl is ignored. */
  redisClusterNodes: readonly ClusterNode[];
}

/** The connection every Redis use of a process is built with: a Cluster when nodes are given, else one Redis. */
export function connectRedis(target: RedisTarget, role: RedisRole): QueueConnection {
  if (target.redisClusterNodes.length > 0) return createRedisCluster([...target.redisClusterNodes], role);
  return createRedis(target.redisUrl, role);
}

/** Resolves once the connection is ready (a producer without an offline queue rejects commands before that). */
export function redisReady(redis: QueueConnection, timeoutMs = 10_000): Promise<void> {
  if (redis.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off("ready", onReady);
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once("ready", onReady);
  });
}

/** Whether a Redis server answers PING at `url`, within `timeoutMs`; never retries. */
export async function redisAnswers(url: string, timeoutMs = 2000): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
