import { randomBytes } from "node:crypto";
import { loadConfig } from "@heidrun/config";
import { postgresAnswers } from "@heidrun/db";
import { redisAnswers } from "@heidrun/queue";

export interface ServiceUrls {
  databaseUrl: string;
  redisUrl: string;
  /** Where the URLs came from, for messages. */
  source: "environment" | "local defaults" | "testcontainers";
}

const LOCAL_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres";
const LOCAL_REDIS_URL = "redis://127.0.0.1:6379";

let started: Promise<ServiceUrls> | undefined;

async function fromTestcontainers(): Promise<ServiceUrls | undefined> {
  try {
    const { GenericContainer, Wait } = await import("testcontainers");
    const postgres = await new GenericContainer("postgres:16")
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: "trust" })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
      .start();
    const redis = await new GenericContainer("redis:7").withExposedPorts(6379).start();
    return {
      databaseUrl: `postgres://postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/postgres`,
      redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
      source: "testcontainers",
    };
  } catch {
    return undefined;
  }
}

/**
 * Finds PostgreSQL and Redis for integration tests: DATABASE_URL/REDIS_URL when set, else the local
 * defaults when they answer, else containers when a Docker engine answers. Never skips silently.
 */
export function resolveServices(): Promise<ServiceUrls> {
  started ??= (async () => {
    const env = loadConfig(process.env).current();
    const explicit = Boolean(process.env.DATABASE_URL || process.env.REDIS_URL);
    if (explicit) return { databaseUrl: env.databaseUrl, redisUrl: env.redisUrl, source: "environment" };
    if ((await postgresAnswers(LOCAL_DATABASE_URL)) && (await redisAnswers(LOCAL_REDIS_URL))) {
      return { databaseUrl: LOCAL_DATABASE_URL, redisUrl: LOCAL_REDIS_URL, source: "local defaults" };
    }
    const containers = await fromTestcontainers();
    if (containers) return containers;
    throw new Error(
      "Integration tests need PostgreSQL and Redis. None answered at 127.0.0.1:5432 / 127.0.0.1:6379, " +
        "DATABASE_URL/REDIS_URL are unset, and no Docker engine answered for testcontainers. " +
        "Start them with `npm run services` (local PostgreSQL and Redis) or `docker compose up -d postgres redis`, " +
        "or set DATABASE_URL and REDIS_URL.",
    );
  })();
  return started;
}

export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${randomBytes(4).toString("hex")}`;
}
