import { setTimeout as sleep } from "node:timers/promises";
import { Server, type ServerOptions } from "@grpc/grpc-js";
import { listenFailure } from "@heidrun/observability";
import { HEIDRUN_SERVICE_NAMES } from "@heidrun/proto";
import { redisReady } from "@heidrun/queue";
import { HealthImplementation } from "grpc-health-check";
import { type AdapterDeps, InflightCalls } from "./adapter";
import { createAuthenticator } from "./auth";
import type { IngressDeps } from "./context";
import { HealthMonitor, probeTimeoutMs } from "./health";
import { createRpcMetrics } from "./metrics";
import { addReflection } from "./reflection";
import { addHeidrunServices } from "./services";
import { guardStreams, OpenStreams } from "./streams";
import { announceTransport, createTransportSecurity, type TransportSecurity } from "./tls";
import { peerOf, recordPeerCertificates } from "./tls-peer";
import { traceCalls, traceJobs } from "./tracing";

/** Spec limit: larger messages are refused with RESOURCE_EXHAUSTED by grpc-js itself. */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

const CONNECTING = new Set(["wait", "connecting", "connect"]);

export interface Ingress {
  /** Binds (e.g. `127.0.0.1:0`), runs the first health round, and serves. Resolves with the bound port. */
  start(addr: string): Promise<{ port: number }>;
  /** NOT_SERVING, stop accepting, let in-flight calls finish within the grace period, then close. */
  stop(): Promise<void>;
  readonly health: HealthMonitor;
}

/** A timer that `cancel` clears, so a finished shutdown leaves no timer holding the process open. */
function cancellableDelay(signal: AbortSignal): (ms: number) => Promise<void> {
  return (ms) => sleep(ms, undefined, { signal }).catch(() => undefined);
}

export function createIngress(deps: IngressDeps): Ingress {
  const config = deps.config.current();
  const { ingress } = config.settings;
  const log = deps.log.child({ component: "ingress" });
  const options: ServerOptions = {
    "grpc.max_receive_message_length": MAX_RECEIVE_MESSAGE_BYTES,
    // Yggdrasil keeps a few connections open for its lifetime: ping them to find dead peers, never recycle them.
    "grpc.keepalive_time_ms": ingress.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": ingress.keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    // Mutual TLS: remember each call's client certificate for the key-to-subject binding (auth.ts).
    ...(config.settings.tls.mode === "mtls" ? { interceptors: [recordPeerCertificates] } : {}),
  };
  const server = new Server(options);
  const authenticator = createAuthenticator(config.apiKeys, {
    keySubjects: () => deps.config.current().settings.tls.keySubjects,
    peerOf,
  });
  let transport: TransportSecurity | undefined;
  const inflight = new InflightCalls();
  const streams = new OpenStreams();
  const adapter: AdapterDeps = {
    log: deps.log,
    metrics: createRpcMetrics(deps.registry),
    authenticator,
    inflight,
    limits: () => {
      const settings = deps.config.current().settings;
      return {
        maxDeadlineMs: settings.ingress.maxDeadlineMs,
        validation: { nowMs: Date.now(), maxTtlSeconds: settings.preauth.maxTtlSeconds },
      };
    },
  };
  addHeidrunServices(traceCalls(server), traceJobs(deps), adapter);

  const healthService = new HealthImplementation();
  healthService.addToServer(guardStreams(server, { streams }));
  addReflection(guardStreams(server, { streams, authenticator }));
  const health = new HealthMonitor({
    health: healthService,
    services: HEIDRUN_SERVICE_NAMES,
    probes: [
      { name: "postgres", check: () => deps.pool.query("SELECT 1") },
      {
        name: "redis",
        // Without an offline queue a command fails while the first connection is being made: wait for that.
        check: async () => {
          if (CONNECTING.has(deps.redis.status)) {
            await redisReady(
              deps.redis,
              probeTimeoutMs(deps.config.current().settings.ingress.healthCheckIntervalMs),
            );
          }
          return deps.redis.ping();
        },
      },
    ],
    intervalMs: () => deps.config.current().settings.ingress.healthCheckIntervalMs,
    log,
  });

  return {
    health,
    async start(addr) {
      if (!authenticator.enabled) {
        log.warn("AUTH IS OFF: no API keys configured (HEIDRUN_API_KEYS), every caller gets the admin scope");
      }
      const security = createTransportSecurity(deps.config.current().settings.tls, log);
      transport = security;
      const port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(addr, security.credentials, (error, bound) =>
          error ? reject(error) : resolve(bound),
        );
      }).catch((error: unknown) => {
        security.close();
        throw listenFailure(error, { what: "gRPC ingress", address: addr, movedBy: "HEIDRUN_GRPC_ADDR" });
      });
      await health.start();
      announceTransport(log, security);
      log.info({ addr, port, serving: health.serving, transport: security.mode }, "ingress listening");
      return { port };
    },
    async stop() {
      const graceMs = deps.config.current().settings.ingress.shutdownGraceMs;
      const deadline = Date.now() + graceMs;
      const timers = new AbortController();
      const delay = cancellableDelay(timers.signal);
      health.stop();
      health.setAll(false);
      const closed = new Promise<boolean>((resolve) => server.tryShutdown(() => resolve(true)));
      log.info({ inflight: inflight.count, grace_ms: graceMs }, "ingress stopping");
      await Promise.race([inflight.drained(), delay(graceMs)]);
      streams.endAll();
      const graceful = await Promise.race([
        closed,
        delay(Math.max(0, deadline - Date.now())).then(() => false),
      ]);
      timers.abort();
      if (!graceful) {
        log.warn({ inflight: inflight.count }, "grace period over, closing the remaining calls");
        server.forceShutdown();
      }
      transport?.close();
      log.info("ingress stopped");
    },
  };
}
