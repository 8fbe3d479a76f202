import { Redis, type RedisOptions } from "ioredis";

export type RedisRole = "producer" | "worker" | "subscriber";

/**
 * Producers in a request path must fail fast when Redis is down (no offline queue, no long retries), so the
 * caller hears UNAVAILABLE instead of waiting; BullMQ workers need `maxRetriesPerRequest: null` to block.
 */
export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const byRole: Record<RedisRole, RedisOptions> = {
    producer: {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: 5000,
    },
    worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
    subscriber: { maxRetriesPerRequest: null },
  };
  const redis = new Redis(url, {
    ...byRole[role],
    connectionName: `heidrun-${role}`,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    ...extra,
  });
  // Errors surface through the commands that fail; an unhandled 'error' event would crash the process.
  redis.on("error", () => {});
  return redis;
}

/** Resolves once the connection is ready (a producer without an offline queue rejects commands before that). */
export function redisReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
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
