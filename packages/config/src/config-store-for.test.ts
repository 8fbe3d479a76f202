import { describe, expect, it } from "vitest";
import { type ApiKey, type Config, configStoreFor, parseSettings } from "./index";
import { configErrorOf } from "./test-support";

const services = { databaseUrl: "postgres://postgres@127.0.0.1:5432/t1", redisUrl: "redis://127.0.0.1:6390" };
const ADMIN: ApiKey = { id: "adm00001", key: "admin-test-key-00000001", scope: "admin" };

describe("configStoreFor", () => {
  it("takes the URLs and settings and gives every other field its default", () => {
    const config = configStoreFor(services, { queue: { prefix: "{t1}" } }).current();
    expect(config).toEqual({
      databaseUrl: "postgres://postgres@127.0.0.1:5432/t1",
      redisUrl: "redis://127.0.0.1:6390",
      redisClusterNodes: [],
      grpcAddr: "127.0.0.1:0",
      dashboardAddr: "127.0.0.1:0",
      ingressMetricsPort: undefined,
      listenersFromEnvironment: { grpcAddr: true, dashboardAddr: true, ingressMetricsPort: true },
      dashboardCsrfSecret: undefined,
      apiKeys: [],
      configFile: undefined,
      servicesFromEnvironment: true,
      services: "external",
      logLevel: "silent",
      settings: parseSettings({ queue: { prefix: "{t1}" } }),
    } satisfies Config);
    expect(config.settings.queue.prefix).toBe("{t1}");
  });

  it("replaces exactly the fields it is given; one given as undefined keeps its default", () => {
    const config = configStoreFor(
      services,
      {},
      {
        grpcAddr: "0.0.0.0:50051",
        apiKeys: [ADMIN],
        logLevel: "info",
        services: "auto",
        dashboardCsrfSecret: undefined,
      },
    ).current();
    expect(config).toEqual({
      databaseUrl: "postgres://postgres@127.0.0.1:5432/t1",
      redisUrl: "redis://127.0.0.1:6390",
      redisClusterNodes: [],
      grpcAddr: "0.0.0.0:50051",
      dashboardAddr: "127.0.0.1:0",
      ingressMetricsPort: undefined,
      listenersFromEnvironment: { grpcAddr: true, dashboardAddr: true, ingressMetricsPort: true },
      dashboardCsrfSecret: undefined,
      apiKeys: [ADMIN],
      configFile: undefined,
      servicesFromEnvironment: true,
      services: "auto",
      logLevel: "info",
      settings: parseSettings({}),
    } satisfies Config);
  });

  it("keeps only the URLs of a larger services object, such as a test context", () => {
    const context = { ...services, redisPrefix: "{t1}", pool: "not config" };
    expect(Object.keys(configStoreFor(context, {}).current())).not.toContain("redisPrefix");
    expect(Object.keys(configStoreFor(context, {}).current())).not.toContain("pool");
  });

  it("gives each store arrays of its own", () => {
    const first = configStoreFor(services, {}).current();
    const second = configStoreFor(services, {}).current();
    expect(first.apiKeys).not.toBe(second.apiKeys);
    expect(first.redisClusterNodes).not.toBe(second.redisClusterNodes);
  });

  it("throws the ConfigError parseSettings throws for invalid settings", () => {
    const raw = { queue: { attempts: 0 }, commission: { minBps: -1 } };
    const error = configErrorOf(() => configStoreFor(services, raw));
    const expected = configErrorOf(() => parseSettings(raw));
    expect(error.source).toBe("settings");
    expect(error.problems).toEqual(expected.problems);
    expect(error.problems).toHaveLength(2);
  });

  it("refuses a queue prefix without a hash tag on a Redis Cluster, as loadConfig does", () => {
    const redisClusterNodes = [{ host: "127.0.0.1", port: 7000 }];
    expect(
      configErrorOf(() => configStoreFor(services, { queue: { prefix: "plain" } }, { redisClusterNodes }))
        .problems,
    ).toEqual([
      'queue.prefix: "plain" has no hash tag such as {heidrun}; HEIDRUN_REDIS_CLUSTER_NODES is set, and BullMQ ' +
        "on a Redis Cluster needs every key of a queue (and the idempotency keys) in one slot",
    ]);
    expect(
      configStoreFor(services, { queue: { prefix: "{t1}" } }, { redisClusterNodes }).current()
        .redisClusterNodes,
    ).toEqual(redisClusterNodes);
  });
});
