import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { ConfigStore } from "@heidrun/config";
import {
  createDb,
  createPool,
  registerLedgerGauges,
  registerQueueGauges,
  SettlementRequeuer,
} from "@heidrun/db";
import {
  createProcessLogger,
  createRegistry,
  listenFailure,
  loadHttpsOptions,
  type Registry,
} from "@heidrun/observability";
import { connectRedis, redisReady, SETTLEMENT_QUEUE, SettlementProducer } from "@heidrun/queue";
import { Queue } from "bullmq";
import type { Express } from "express";
import { createDashboardApp, type DashboardDeps } from "./app";
import { discoverQueueNames } from "./queues";

export interface OwnedDashboardDeps {
  deps: DashboardDeps;
  producer: SettlementProducer;
  close(): Promise<void>;
}

/** The dashboard's gauges: queue depths from Redis and ledger figures from Postgres, read at each scrape. */
export function registerDashboardMetrics(deps: Pick<DashboardDeps, "registry" | "db" | "queues">): void {
  registerQueueGauges(deps.registry, () => deps.queues);
  registerLedgerGauges(deps.registry, deps.db);
}

/** Builds the dashboard's collaborators from the configuration; close() releases them. */
export async function createDashboardDeps(
  config: ConfigStore,
  registry: Registry = createRegistry({ process_role: "dashboard" }),
): Promise<OwnedDashboardDeps> {
  const current = config.current();
  const { queue: queueSettings, idempotencyWindowSeconds } = current.settings;
  const log = createProcessLogger("dashboard", current);
  // The application role: it may append to the audit trail (a rerun) but never rewrite it.
  const pool = createPool(current.databaseUrl, {
    applicationName: "heidrun-dashboard",
    max: 5,
    role: "heidrun_app",
  });
  const db = createDb(pool);
  const redis = connectRedis(current, "producer");
  const producer = new SettlementProducer({
    connection: redis,
    prefix: queueSettings.prefix,
    settings: () => ({ ...config.current().settings.queue, idempotencyWindowSeconds }),
  });
  // A producer connection rejects commands until it is connected: wait for it, so /healthz does not start red.
  await redisReady(redis, 5000).catch((error: unknown) =>
    log.warn({ err: error }, "Redis not ready yet; /healthz answers 503 until it is"),
  );
  const others: Queue[] = [];
  try {
    const names = await discoverQueueNames(redis, queueSettings.prefix);
    for (const name of names.filter((n) => n !== SETTLEMENT_QUEUE)) {
      const queue = new Queue(name, { connection: redis, prefix: queueSettings.prefix });
      queue.on("error", () => {});
      others.push(queue);
    }
  } catch (error) {
    log.warn({ err: error }, "could not list the queues in Redis; showing the settlement queue only");
  }
  const deps: DashboardDeps = {
    config,
    log,
    registry,
    db,
    redis,
    queues: [producer.queue, ...others],
    requeuer: new SettlementRequeuer(producer),
  };
  return {
    deps,
    producer,
    async close() {
      await Promise.allSettled([producer.close(), ...others.map((q) => q.close())]);
      await Promise.allSettled([pool.end(), redis.quit().catch(() => redis.disconnect())]);
    },
  };
}

function splitAddress(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(":");
  return {
    host: addr.slice(0, at).replace(/^\[(.*)\]$/, "$1"),
    port: Number.parseInt(addr.slice(at + 1), 10),
  };
}

export interface ListeningDashboard {
  server: Server;
  /** http(s)://host:port as it listens (the real port when the configured one was 0). */
  url: string;
  close(): Promise<void>;
}

/** Serves the app on HEIDRUN_DASHBOARD_ADDR, over HTTPS when settings.tls.dashboard asks for it. */
export async function listen(
  app: Express,
  config: ConfigStore,
  deps: Pick<DashboardDeps, "log">,
): Promise<ListeningDashboard> {
  const https = loadHttpsOptions(config.current().settings.tls);
  const server: Server = https.options ? createHttpsServer(https.options, app) : createHttpServer(app);
  const stopWatching = https.options
    ? https.watch(server as unknown as { setSecureContext(o: object): void }, (event) => {
        if (event.error) deps.log.error({ err: event.error }, "dashboard certificate reload failed");
        else deps.log.info({ certificate: event.reloaded }, "dashboard certificate reloaded");
      })
    : () => {};
  const address = config.current().dashboardAddr;
  const { host, port } = splitAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(listenFailure(error, { what: "dashboard", address, movedBy: "HEIDRUN_DASHBOARD_ADDR" })),
    );
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    server,
    url: `${https.options ? "https" : "http"}://${shownHost}:${bound.port}`,
    async close() {
      stopWatching();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

export interface RunDashboardIo {
  stopSignal: Promise<unknown>;
  onListening?: (url: string) => void;
}

/** `heidrun dashboard`: Bull Board, the settlement overview and /metrics until asked to stop. */
export async function runDashboard(config: ConfigStore, io: RunDashboardIo): Promise<void> {
  const owned = await createDashboardDeps(config);
  const { deps } = owned;
  try {
    registerDashboardMetrics(deps);
    if (deps.config.current().apiKeys.length === 0) {
      deps.log.warn("HEIDRUN_API_KEYS is not set: the dashboard runs WITHOUT authentication");
    }
    const listening = await listen(createDashboardApp(deps), config, deps);
    deps.log.info({ url: listening.url, queues: deps.queues.map((q) => q.name) }, "dashboard listening");
    io.onListening?.(listening.url);
    const signal = await io.stopSignal;
    deps.log.info({ signal }, "stop requested");
    await listening.close();
  } finally {
    await owned.close();
  }
}
