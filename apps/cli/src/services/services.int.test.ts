import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "@heidrun/config";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { findServerBinaries } from "./binaries";
import { DEFAULT_BINARY_SEARCH, resolveFleetServices } from "./resolve";

const dir = mkdtempSync(join(tmpdir(), "heidrun-private-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("fleet services", () => {
  it("external mode uses the URLs as given and starts nothing", async () => {
    const config = loadConfig({
      HEIDRUN_SERVICES: "external",
      DATABASE_URL: "postgres://x@127.0.0.1:1/db",
    }).current();
    const services = await resolveFleetServices(config, { search: { path: "", postgresRoots: [] } });
    expect(services).toMatchObject({ mode: "external", databaseUrl: "postgres://x@127.0.0.1:1/db" });
  });

  it("auto mode picks external when the URLs are set, without probing", async () => {
    const config = loadConfig({ REDIS_URL: "redis://127.0.0.1:1" }).current();
    const services = await resolveFleetServices(config, { search: { path: "", postgresRoots: [] } });
    expect(services.mode).toBe("external");
    expect(services.reason).toMatch(/are set/);
  });

  it("auto mode uses a Redis Cluster given by HEIDRUN_REDIS_CLUSTER_NODES; private mode refuses one", async () => {
    const nodes = { HEIDRUN_REDIS_CLUSTER_NODES: "127.0.0.1:1,127.0.0.1:2" };
    const auto = loadConfig({ ...nodes, HEIDRUN_SERVICES: "auto" }).current();
    const services = await resolveFleetServices(auto, { search: { path: "", postgresRoots: [] } });
    expect(services.mode).toBe("external");
    expect(services.reason).toMatch(/HEIDRUN_REDIS_CLUSTER_NODES are set/);
    const privately = loadConfig({ ...nodes, HEIDRUN_SERVICES: "private" }).current();
    await expect(
      resolveFleetServices(privately, { search: { path: "", postgresRoots: [] } }),
    ).rejects.toThrow(/HEIDRUN_SERVICES=private starts a Redis of its own.*unset one of them/);
  });

  it("private mode without the server binaries stops with the commands that provide them", async () => {
    const config = loadConfig({ HEIDRUN_SERVICES: "private" }).current();
    await expect(
      resolveFleetServices(config, { search: { path: "/nonexistent", postgresRoots: [] } }),
    ).rejects.toThrow(
      /missing: initdb, pg_ctl, redis-server[\s\S]*apt-get install postgresql redis-server[\s\S]*docker compose up -d postgres redis/,
    );
  });

  it("private mode starts durable PostgreSQL and Redis on loopback and stops them", async () => {
    const search = DEFAULT_BINARY_SEARCH(process.env.PATH ?? "");
    findServerBinaries(search); // fails loudly here, not later, when the machine lacks them
    const config = loadConfig({ HEIDRUN_SERVICES: "private" }).current();
    const services = await resolveFleetServices(config, { search, dir });
    try {
      expect(services.mode).toBe("private");
      expect(services.databaseUrl).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/heidrun$/);
      const client = new pg.Client({
        connectionString: services.databaseUrl.replace(/\/heidrun$/, "/postgres"),
      });
      await client.connect();
      expect((await client.query("SELECT 1 AS one")).rows[0].one).toBe(1);
      await client.end();
      const redis = new Redis(services.redisUrl);
      expect(await redis.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
      expect(await redis.config("GET", "appendfsync")).toEqual(["appendfsync", "always"]);
      redis.disconnect();
    } finally {
      await services.stop();
    }
    const redis = new Redis(services.redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    redis.on("error", () => {});
    await expect(redis.connect()).rejects.toThrow();
    const client = new pg.Client({ connectionString: services.databaseUrl, connectionTimeoutMillis: 1000 });
    await expect(client.connect()).rejects.toThrow();
  });

  it("private mode from a folder its service user cannot enter keeps PostgreSQL's data where it can", async () => {
    const search = DEFAULT_BINARY_SEARCH(process.env.PATH ?? "");
    // As a `mktemp -d` checkout is: mode 0700, owned by whoever cloned it.
    const outer = mkdtempSync(join(tmpdir(), "heidrun-closed-"));
    const closed = join(outer, "checkout", ".heidrun", "services");
    const config = loadConfig({ HEIDRUN_SERVICES: "private" }).current();
    const services = await resolveFleetServices(config, { search, dir: closed });
    try {
      const client = new pg.Client({
        connectionString: services.databaseUrl.replace(/\/heidrun$/, "/postgres"),
      });
      await client.connect();
      expect((await client.query("SELECT 1 AS one")).rows[0].one).toBe(1);
      await client.end();
      if (process.getuid?.() === 0) {
        expect(services.postgresData).toMatch(/^\/.+\/heidrun-private\/[0-9a-f]{16}\/postgres$/);
        expect(services.reason).toContain(
          `(PostgreSQL's data in ${services.postgresData}: the postgres user cannot enter ${closed})`,
        );
      } else expect(services.postgresData).toBe(join(closed, "postgres"));
    } finally {
      await services.stop();
      rmSync(outer, { recursive: true, force: true });
      if (services.postgresData) rmSync(join(services.postgresData, ".."), { recursive: true, force: true });
    }
  });
});
