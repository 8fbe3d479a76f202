import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "@heidrun/config";
import { withDatabase } from "@heidrun/db";
import { createTestContext } from "@heidrun/testing";
import { Redis } from "ioredis";
import pg from "pg";
import { DEFAULT_BINARY_SEARCH, resolveFleetServices } from "../../apps/cli/src/services/resolve";

export interface BenchServices {
  databaseUrl: string;
  redisUrl: string;
  /** Which services and why, for BENCHMARKS.md. */
  reason: string;
  stop(): Promise<void>;
}

/**
 * The services the benches run against, HEIDRUN_SERVICES-style: DATABASE_URL/REDIS_URL when set, the local
 * defaults when they answer, else a private PostgreSQL and Redis in a temp directory (removed by stop()).
 * The URLs go into process.env, so every bench's test context (and every child process) uses them.
 */
export async function resolveBenchServices(): Promise<BenchServices> {
  const config = loadConfig(process.env).current();
  const dir = mkdtempSync(join(tmpdir(), "heidrun-bench-services-"));
  const services = await resolveFleetServices(config, {
    search: DEFAULT_BINARY_SEARCH(process.env.PATH ?? ""),
    dir,
  });
  process.env.DATABASE_URL = services.databaseUrl;
  process.env.REDIS_URL = services.redisUrl;
  return {
    databaseUrl: services.databaseUrl,
    redisUrl: services.redisUrl,
    reason: services.reason,
    async stop() {
      await services.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ServiceFacts {
  postgres: string;
  redis: string;
}

/**
 * Migrates a throwaway database (dropped again) to prove the schema applies before any bench starts, and
 * reads the server versions and the settings that decide write throughput.
 */
export async function preflight(): Promise<ServiceFacts> {
  const context = await createTestContext();
  try {
    const show = async (name: string) =>
      String((await context.pool.query(`SHOW ${name}`)).rows[0]?.[name] ?? "?");
    const postgres =
      `${await show("server_version")} (fsync ${await show("fsync")}, ` +
      `synchronous_commit ${await show("synchronous_commit")}, max_connections ${await show("max_connections")})`;
    const info = await context.redis.info("server");
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "?";
    const config = async (name: string) => ((await context.redis.config("GET", name)) as string[])[1] ?? "?";
    const redis =
      `${version} (appendonly ${await config("appendonly")}, appendfsync ${await config("appendfsync")}, ` +
      `maxmemory-policy ${await config("maxmemory-policy")})`;
    return { postgres, redis };
  } finally {
    await context.close();
  }
}

const TEST_DATABASE = /^heidrun_test_([0-9a-z]+)$/;

/**
 * Drops what a crashed or killed bench left: the test databases its processes connected to, and the Redis keys
 * of the prefix that goes with each (`{t<suffix>}`, packages/testing). Only names of that pattern, only those
 * the bench itself reported. Answers the names it dropped.
 */
export async function dropLeftovers(
  services: BenchServices,
  databases: readonly string[],
): Promise<string[]> {
  const names = databases.filter((name) => TEST_DATABASE.test(name));
  if (names.length === 0) return [];
  const admin = new pg.Client({ connectionString: withDatabase(services.databaseUrl, "postgres") });
  const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  await admin.connect();
  const dropped: string[] = [];
  try {
    for (const name of names) {
      const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
      if (found.rowCount) {
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
        dropped.push(name);
      }
      await deleteKeys(redis, `{t${TEST_DATABASE.exec(name)![1]}}*`);
    }
  } finally {
    await admin.end();
    redis.disconnect();
  }
  return dropped;
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}
