import { writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "./load";
import { hasHashTag } from "./redis-cluster";
import { configErrorOf, removeTempFiles, tempFile } from "./test-support";

afterEach(removeTempFiles);

describe("HEIDRUN_REDIS_CLUSTER_NODES", () => {
  it("is empty when unset, so REDIS_URL is used", () => {
    expect(loadConfig({}).current().redisClusterNodes).toEqual([]);
  });

  it("parses host:port seed nodes, IPv6 in brackets, spaces and a trailing comma", () => {
    const config = loadConfig({
      HEIDRUN_REDIS_CLUSTER_NODES: "127.0.0.1:7000, redis-1.internal:7001,[::1]:7002,",
    }).current();
    expect(config.redisClusterNodes).toEqual([
      { host: "127.0.0.1", port: 7000 },
      { host: "redis-1.internal", port: 7001 },
      { host: "::1", port: 7002 },
    ]);
  });

  it("names the variable and each bad entry", () => {
    const error = configErrorOf(() =>
      loadConfig({ HEIDRUN_REDIS_CLUSTER_NODES: "127.0.0.1:7000,127.0.0.1,127.0.0.1:70000,redis://a:1" }),
    );
    expect(error.source).toBe("environment");
    expect(error.problems).toEqual([
      'HEIDRUN_REDIS_CLUSTER_NODES: entry 2 ("127.0.0.1") must be host:port with a port from 1 to 65535',
      'HEIDRUN_REDIS_CLUSTER_NODES: entry 3 ("127.0.0.1:70000") must be host:port with a port from 1 to 65535',
      'HEIDRUN_REDIS_CLUSTER_NODES: entry 4 ("redis://a:1") must be host:port with a port from 1 to 65535',
    ]);
  });

  it("refuses a list of nothing but commas", () => {
    expect(configErrorOf(() => loadConfig({ HEIDRUN_REDIS_CLUSTER_NODES: " , ," })).problems).toEqual([
      "HEIDRUN_REDIS_CLUSTER_NODES: names no node: give host:port,host:port",
    ]);
  });

  it("refuses a queue prefix without a hash tag when cluster nodes are given, and only then", () => {
    const file = tempFile({ queue: { prefix: "heidrun" } });
    expect(loadConfig({}, file).current().settings.queue.prefix).toBe("heidrun");
    const error = configErrorOf(() => loadConfig({ HEIDRUN_REDIS_CLUSTER_NODES: "127.0.0.1:7000" }, file));
    expect(error.source).toBe(file);
    expect(error.problems).toEqual([
      'queue.prefix: "heidrun" has no hash tag such as {heidrun}; HEIDRUN_REDIS_CLUSTER_NODES is set, and ' +
        "BullMQ on a Redis Cluster needs every key of a queue (and the idempotency keys) in one slot",
    ]);
    const config = loadConfig({ HEIDRUN_REDIS_CLUSTER_NODES: "127.0.0.1:7000" }).current();
    expect(config.settings.queue.prefix).toBe("{heidrun}");
  });

  it("keeps the old settings when a reload would drop the hash tag on a cluster", () => {
    const file = tempFile({ queue: { prefix: "{blue}" } });
    const store = loadConfig({ HEIDRUN_REDIS_CLUSTER_NODES: "127.0.0.1:7000" }, file);
    const rejected: string[][] = [];
    store.on("rejected", (error) => rejected.push(error.problems));
    writeFileSync(file, JSON.stringify({ queue: { prefix: "green" } }));
    expect(store.reload()).toBe(false);
    expect(store.current().settings.queue.prefix).toBe("{blue}");
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.[0]).toMatch(/^queue\.prefix: "green" has no hash tag/);
  });
});

describe("hasHashTag", () => {
  it("follows Redis: the first { and the first } after it, with something between", () => {
    expect(hasHashTag("{heidrun}")).toBe(true);
    expect(hasHashTag("app:{heidrun}:x")).toBe(true);
    expect(hasHashTag("{a}{b}")).toBe(true);
    expect(hasHashTag("heidrun")).toBe(false);
    expect(hasHashTag("{}heidrun")).toBe(false);
    expect(hasHashTag("{heidrun")).toBe(false);
    expect(hasHashTag("}heidrun{")).toBe(false);
    // Redis hashes "{}{x}" whole: the first { meets an empty tag, and the second is never looked at.
    expect(hasHashTag("{}{x}")).toBe(false);
  });
});
