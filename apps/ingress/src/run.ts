import type { ConfigStore } from "@heidrun/config";
import { createDb, createPool, PriceCache, priceChannel, registerQueueGauges } from "@heidrun/db";
import {
  createProcessLogger,
  createRegistry,
  serveMetrics,
  startTracing,
  tracePgPool,
  traceRedis,
  tracingEnabled,
} from "@heidrun/observability";
import { connectRedis, enforceRedisDurability, redisReady, SettlementProducer } from "@heidrun/queue";
import { createTokenizerRegistry, TokenCountingService } from "@heidrun/tokenizers";
import type { IngressDeps } from "./context";
import { createIngress } from "./server";

export interface OwnedIngressDeps {
  deps: IngressDeps;
  /** Loads what handlers answer from memory (every price version) and subscribes to its changes. */
  start(): Promise<void>;
  /** Closes what createIngressDeps opened (pool, Redis). */
  close(): Promise<void>;
}

/**
 * Builds the production deps from the configuration. A field added to IngressDeps is built here too.
 */
export function createIngressDeps(config: ConfigStore): OwnedIngressDeps {
  const current = config.current();
  const log = createProcessLogger("ingress", current);
  const pool = createPool(current.databaseUrl, { applicationName: "heidrun-ingress", role: "heidrun_app" });
  const redis = connectRedis(current, "producer");
  if (tracingEnabled()) {
    // Queries and Redis commands made inside a traced call become its child spans.
    tracePgPool(pool);
    traceRedis(redis);
  }
  const registry = createRegistry({ process_role: "ingress" });
  const db = createDb(pool);
  const priceSubscriber = connectRedis(current, "subscriber");
  const priceCache = new PriceCache({
    db,
    subscriber: priceSubscriber,
    registry,
    channel: priceChannel(current.settings.queue.prefix),
    refreshIntervalMs: () => config.current().settings.priceCache.refreshIntervalMs,
  });
  priceCache.on("failed", (error, during) => log.warn({ err: error, during }, "price cache load failed"));
  const settings = () => config.current().settings;
  const producer = new SettlementProducer({
    connection: redis,
    prefix: current.settings.queue.prefix,
    settings: () => ({ ...settings().queue, idempotencyWindowSeconds: settings().idempotencyWindowSeconds }),
  });
  registerQueueGauges(registry, () => [producer.queue]);
  const tokenizers = createTokenizerRegistry({ modelMap: current.settings.tokenizers.modelMap });
  const tokenCounter = new TokenCountingService(tokenizers, {
    offThreadThresholdBytes: current.settings.tokenizers.offThreadThresholdBytes,
    poolSize: current.settings.tokenizers.poolSize,
  });
  config.on("change", (next) => {
    try {
      tokenizers.updateModelMap(next.settings.tokenizers.modelMap);
    } catch (error) {
      log.warn({ err: error }, "tokenizers.modelMap rejected, keeping the old map");
    }
  });
  const deps: IngressDeps = {
    config,
    log,
    registry,
    pool,
    db,
    redis,
    priceCache,
    producer,
    tokenCounter,
  };
  return {
    deps,
    start: async () => {
      await Promise.all([priceCache.start(), tokenCounter.warmUp()]);
    },
    async close() {
      await Promise.allSettled([priceCache.stop(), producer.close(), tokenCounter.close()]);
      await Promise.allSettled(
        [redis, priceSubscriber].map((r) => r.quit().catch(() => r.disconnect())).concat(pool.end()),
      );
    },
  };
}

export interface RunIngressOptions {
  /** Resolves when the process should stop; default: the first SIGTERM or SIGINT. */
  stopSignal?: Promise<unknown>;
}

function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals = ["SIGTERM", "SIGINT"] as const;
    const onSignal = (signal: NodeJS.Signals) => {
      for (const name of signals) process.off(name, onSignal);
      resolve(signal);
    };
    for (const name of signals) process.on(name, onSignal);
  });
}

/** `heidrun ingress`: serve on config.grpcAddr until asked to stop, then shut down gracefully. */
export async function runIngress(config: ConfigStore, options: RunIngressOptions = {}): Promise<void> {
  const tracing = startTracing({ serviceName: "heidrun-ingress", ...config.current().settings.tracing });
  const { deps, start, close } = createIngressDeps(config);
  if (tracing.enabled) {
    deps.log.info(
      { otlpEndpoint: config.current().settings.tracing.otlpEndpoint },
      "tracing on: exporting spans",
    );
  }
  config.on("change", () => deps.log.info("settings reloaded"));
  config.on("rejected", (error) =>
    deps.log.error({ problems: error.problems }, "settings file rejected, keeping the old"),
  );
  config.watch();
  const ingress = createIngress(deps);
  const { host } = config.current().settings.metrics;
  const ingressPort = config.current().ingressMetricsPort ?? config.current().settings.metrics.ingressPort;
  let metrics: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  try {
    await redisReady(deps.redis).catch(() =>
      deps.log.warn("Redis not reachable yet; health says NOT_SERVING until it is"),
    );
    if (deps.redis.status === "ready") {
      await enforceRedisDurability(deps.redis, config.current().settings.redis.durabilityCheck, deps.log);
    }
    await start();
    metrics = await serveMetrics(deps.registry, host, ingressPort, {
      what: "ingress metrics",
      movedBy: "HEIDRUN_INGRESS_METRICS_PORT (or metrics.ingressPort in the settings file; 0: any free port)",
    });
    deps.log.info({ metrics: `http://${host}:${metrics.port}/metrics` }, "ingress metrics listening");
    await ingress.start(config.current().grpcAddr);
    const signal = await (options.stopSignal ?? firstSignal());
    deps.log.info({ signal }, "stop requested");
    await ingress.stop();
  } finally {
    await metrics?.close();
    await close();
    await tracing.shutdown();
  }
}
