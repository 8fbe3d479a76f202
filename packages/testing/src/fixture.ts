import { createDb, createPool, type Db, databaseName, runMigrations, withDatabase } from "@heidrun/db";
import { Redis } from "ioredis";
import pg from "pg";
import { resolveServices, uniqueSuffix } from "./services";

export interface TestContext {
  /** A database of this test file alone, migrated. */
  databaseUrl: string;
  redisUrl: string;
  /** BullMQ prefix and key prefix of this test file alone; a hash tag so it also works on Redis Cluster. */
  redisPrefix: string;
  pool: pg.Pool;
  db: Db;
  redis: Redis;
  /** A new Redis connection (BullMQ workers need their own); closed by `close()`. */
  newRedis(options?: { forWorker?: boolean }): Redis;
  close(): Promise<void>;
}

export async function createTestContext(): Promise<TestContext> {
  const services = await resolveServices();
  const suffix = uniqueSuffix();
  const databaseUrl = withDatabase(services.databaseUrl, `heidrun_test_${suffix}`);
  await runMigrations(databaseUrl);
  const pool = createPool(databaseUrl, { max: 10, applicationName: "heidrun-test" });
  const redisPrefix = `{t${suffix}}`;
  const connections: Redis[] = [];
  const newRedis = (options: { forWorker?: boolean } = {}) => {
    const redis = new Redis(services.redisUrl, options.forWorker ? { maxRetriesPerRequest: null } : {});
    connections.push(redis);
    return redis;
  };
  const redis = newRedis();
  return {
    databaseUrl,
    redisUrl: services.redisUrl,
    redisPrefix,
    pool,
    db: createDb(pool),
    redis,
    newRedis,
    async close() {
      await deleteKeys(redis, `${redisPrefix}*`);
      await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
      await pool.end();
      await dropDatabase(services.databaseUrl, databaseName(databaseUrl));
    },
  };
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  for (let round = 0; round < 100_000; round++) {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
    if (cursor === "0") return;
  }
}

async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: withDatabase(serverUrl, "postgres") });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
