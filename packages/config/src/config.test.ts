import { renameSync, writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { type ConfigStore, loadConfig } from "./index";
import { configErrorOf, removeTempFiles, tempFile } from "./test-support";

afterEach(removeTempFiles);

function problemsOf(fn: () => unknown): string[] {
  return configErrorOf(fn).problems;
}

describe("loadConfig", () => {
  it("gives every setting a default", () => {
    const config = loadConfig({}).current();
    expect(config.databaseUrl).toBe("postgres://postgres@127.0.0.1:5432/heidrun");
    expect(config.redisUrl).toBe("redis://127.0.0.1:6379");
    expect(config.grpcAddr).toBe("0.0.0.0:50051");
    expect(config.dashboardAddr).toBe("127.0.0.1:3000");
    expect(config.apiKeys).toEqual([]);
    expect(config.services).toBe("auto");
    const s = config.settings;
    expect(s.commission).toEqual({ defaultBps: 1500, minBps: 1000, maxBps: 1500, overrides: {} });
    expect(s.roundingIncrementMicros).toBe(1n);
    expect(s.preauth.defaultTtlSeconds).toBe(900);
    expect(s.preauth.maxTtlSeconds).toBe(86_400);
    expect(s.idempotencyWindowSeconds).toBe(86_400);
    expect(s.worker.batchSize).toBe(500);
    expect(s.queue.attempts).toBe(8);
    expect(s.tokenizers.offThreadThresholdBytes).toBe(65_536);
  });

  it("says which listeners the environment placed, and reads the ingress metrics port", () => {
    const defaults = loadConfig({}).current();
    expect([defaults.ingressMetricsPort, defaults.listenersFromEnvironment]).toEqual([
      undefined,
      { grpcAddr: false, dashboardAddr: false, ingressMetricsPort: false },
    ]);
    const placed = loadConfig({
      HEIDRUN_GRPC_ADDR: "127.0.0.1:1",
      HEIDRUN_INGRESS_METRICS_PORT: "0",
    }).current();
    expect([placed.ingressMetricsPort, placed.listenersFromEnvironment]).toEqual([
      0,
      { grpcAddr: true, dashboardAddr: false, ingressMetricsPort: true },
    ]);
    expect(problemsOf(() => loadConfig({ HEIDRUN_INGRESS_METRICS_PORT: "65536" }))).toEqual([
      "HEIDRUN_INGRESS_METRICS_PORT: must be a port number",
    ]);
    expect(problemsOf(() => loadConfig({ HEIDRUN_INGRESS_METRICS_PORT: "http" }))).toEqual([
      "HEIDRUN_INGRESS_METRICS_PORT: must be a port number",
    ]);
  });

  it("reads only the variables it knows, treating empty ones as unset", () => {
    const config = loadConfig({
      DATABASE_URL: "",
      REDIS_URL: "redis://127.0.0.1:6390",
      UNRELATED: "x",
    }).current();
    expect(config.databaseUrl).toBe("postgres://postgres@127.0.0.1:5432/heidrun");
    expect(config.redisUrl).toBe("redis://127.0.0.1:6390");
  });

  it("parses API keys with scopes and a non-secret id", () => {
    const config = loadConfig({
      HEIDRUN_API_KEYS: "yggdrasil-key-0123456789=yggdrasil, admin-key-0123456789abc=admin",
    }).current();
    expect(config.apiKeys.map((k) => [k.key, k.scope])).toEqual([
      ["yggdrasil-key-0123456789", "yggdrasil"],
      ["admin-key-0123456789abc", "admin"],
    ]);
    expect(config.apiKeys[0]?.id).toMatch(/^[0-9a-f]{8}$/);
  });

  it("takes a dashboard CSRF secret of 32 characters or more, and none by default", () => {
    const secret = "replicas-share-this-csrf-secret-0123456789";
    expect(loadConfig({ HEIDRUN_DASHBOARD_CSRF_SECRET: secret }).current().dashboardCsrfSecret).toBe(secret);
    expect(loadConfig({}).current().dashboardCsrfSecret).toBeUndefined();
    expect(
      problemsOf(() => loadConfig({ HEIDRUN_DASHBOARD_CSRF_SECRET: "31-characters-are-not-enough-xx" })),
    ).toEqual(["HEIDRUN_DASHBOARD_CSRF_SECRET: must be at least 32 characters"]);
  });

  it("names each bad environment variable", () => {
    const problems = problemsOf(() =>
      loadConfig({
        HEIDRUN_GRPC_ADDR: "nowhere",
        HEIDRUN_API_KEYS: "short=admin",
        HEIDRUN_SERVICES: "cloud",
      }),
    );
    expect(problems).toHaveLength(3);
    expect(problems.join("\n")).toMatch(/HEIDRUN_GRPC_ADDR: must be host:port/);
    expect(problems.join("\n")).toMatch(/HEIDRUN_API_KEYS: entry 1: keys must be at least 16 characters/);
    expect(problems.join("\n")).toMatch(/HEIDRUN_SERVICES/);
  });

  it("refuses a bad settings file naming each setting", () => {
    const file = tempFile({
      commission: { defaultBps: 2000, overrides: { acme: 50 } },
      preauth: { maxTtlSeconds: 100_000 },
      roundingIncrementMicros: "0",
      surprise: true,
    });
    const problems = problemsOf(() => loadConfig({ HEIDRUN_CONFIG: file }));
    const text = problems.join("\n");
    expect(text).toMatch(/commission\.defaultBps: must be within 1000–1500/);
    expect(text).toMatch(/commission\.overrides\.acme: must be within 1000–1500/);
    expect(text).toMatch(/preauth\.maxTtlSeconds/);
    expect(text).toMatch(/roundingIncrementMicros: must be at least 1/);
    expect(text).toMatch(/surprise/);
  });

  it("refuses a file that is not JSON", () => {
    const file = tempFile("{ not json");
    expect(problemsOf(() => loadConfig({}, file))[0]).toMatch(/not valid JSON/);
  });

  it("accepts a valid file with bigint as decimal text", () => {
    const file = tempFile({
      roundingIncrementMicros: "10",
      commission: { minBps: 500, overrides: { acme: 900 } },
    });
    const s = loadConfig({}, file).current().settings;
    expect(s.roundingIncrementMicros).toBe(10n);
    expect(s.commission.overrides).toEqual({ acme: 900 });
  });
});

describe("hot reload", () => {
  function nextEvent(store: ConfigStore): Promise<string> {
    return new Promise((resolve) => {
      store.once("change", () => resolve("change"));
      store.once("rejected", () => resolve("rejected"));
    });
  }

  it("applies a valid change without restart and keeps the old settings on an invalid one", async () => {
    const file = tempFile({ commission: { defaultBps: 1500 } });
    const store = loadConfig({}, file);
    store.watch();
    try {
      let event = nextEvent(store);
      writeFileSync(`${file}.tmp`, JSON.stringify({ commission: { defaultBps: 1200 } }));
      renameSync(`${file}.tmp`, file);
      expect(await event).toBe("change");
      expect(store.current().settings.commission.defaultBps).toBe(1200);

      event = nextEvent(store);
      writeFileSync(file, JSON.stringify({ commission: { defaultBps: 99_999 } }));
      expect(await event).toBe("rejected");
      expect(store.current().settings.commission.defaultBps).toBe(1200);
    } finally {
      store.close();
    }
  });
});
