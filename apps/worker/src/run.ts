import type { ConfigStore } from "@heidrun/config";
import { createDb, createPool, PriceCache, priceChannel, reconcilerService } from "@heidrun/db";
import {
  createProcessLogger,
  createRegistry,
  type Registry,
  serveMetrics,
  startTracing,
  tracePgPool,
} from "@heidrun/observability";
import { connectRedis, enforceRedisDurability } from "@heidrun/queue";
import { auditHeadService, expiryService } from "./background";
import { createWorker, type SettlementWorker, type WorkerDeps } from "./worker";

export interface RunWorkerIo {
  /** Resolves when the worker should stop (SIGTERM/SIGINT in the CLI). */
  stopSignal: Promise<unknown>;
  /** Called once the worker fetches jobs. */
  onStarted?: (worker: SettlementWorker) => void;
  /** Where the worker's metrics go; default: a registry of its own. */
  registry?: Registry;
}

/** Test hooks passed through to createWorker. */
export type RunWorkerExtras = Pick<WorkerDeps, "afterCommit" | "workerOptions">;

/**
 * `heidrun worker`: builds the worker's collaborators from the configuration, runs until `stopSignal`, then
 * stops gracefully (flushes the open batch) and closes what it opened.
 */
export async function runWorker(
  config: ConfigStore,
  io: RunWorkerIo,
  extras: RunWorkerExtras = {},
): Promise<void> {
  const current = config.current();
  const log = createProcessLogger("worker", current);
  const pool = createPool(current.databaseUrl, {
    applicationName: "heidrun-worker",
    max: 10,
    role: "heidrun_app",
  });
  const db = createDb(pool);
  const connection = connectRedis(current, "worker");
  const subscriber = connectRedis(current, "subscriber");
  const registry = io.registry ?? createRegistry({ process_role: "worker" });
  const priceCache = new PriceCache({
    db,
    channel: priceChannel(current.settings.queue.prefix),
    subscriber,
    refreshIntervalMs: () => config.current().settings.priceCache.refreshIntervalMs,
    registry,
  });
  priceCache.on("failed", (error, during) => log.warn({ err: error, during }, "price cache load failed"));
  config.on("rejected", (error) =>
    log.error({ problems: error.problems }, "settings file rejected, keeping the old"),
  );
  config.watch();
  const tracing = startTracing({ serviceName: "heidrun-worker", ...current.settings.tracing });
  if (tracing.enabled) {
    // Each batch transaction's statements become children of its span.
    tracePgPool(pool);
    log.info({ otlpEndpoint: current.settings.tracing.otlpEndpoint }, "tracing on: exporting spans");
  }
  let metrics: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  try {
    await enforceRedisDurability(connection, current.settings.redis.durabilityCheck, log);
    const { host, workerPort } = current.settings.metrics;
    metrics = await serveMetrics(registry, host, workerPort, {
      what: "worker metrics",
      movedBy: "metrics.workerPort in the settings file (0: any free port)",
    });
    log.info({ metrics: `http://${host}:${metrics.port}/metrics` }, "worker metrics listening");
    const services = [
      expiryService({ config, pool, db, log }),
      reconcilerService({ config, db, connection, log, registry }),
      auditHeadService({ config, db, log }),
    ];
    const worker = createWorker({
      config,
      log,
      registry,
      pool,
      db,
      connection,
      priceCache,
      services,
      ...extras,
    });
    await worker.start();
    io.onStarted?.(worker);
    const signal = await io.stopSignal;
    log.info({ signal }, "stop requested");
    await worker.stop();
  } finally {
    await tracing.shutdown().catch(() => {});
    await metrics?.close();
    await Promise.allSettled([
      pool.end(),
      connection.quit().catch(() => connection.disconnect()),
      subscriber.quit().catch(() => subscriber.disconnect()),
    ]);
  }
}
