import { createServer } from "node:net";
import type { Config } from "@heidrun/config";
import { DomainError } from "@heidrun/core";

/** A listener of the fleet that `heidrun start` places before the parts start. */
interface FleetListener {
  what: string;
  variable: "HEIDRUN_GRPC_ADDR" | "HEIDRUN_DASHBOARD_ADDR" | "HEIDRUN_INGRESS_METRICS_PORT";
  host: string;
  port: number;
  /** Given by its variable: then a taken port is an error, not something to move. */
  fixed: boolean;
}

export interface PlacedListeners {
  /** Variables for the parts, so each binds where start decided. */
  env: Record<string, string>;
  grpcAddr: string;
  dashboardAddr: string;
  /** One line for each listener moved off a taken port. */
  moved: string[];
}

function split(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(":");
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, "$1"), port: Number(address.slice(at + 1)) };
}

function joined(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Binds host:port for a moment: the port it got (port 0: any free one), or undefined when it is taken. */
function tryBind(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", (error: NodeJS.ErrnoException) =>
      error.code === "EADDRINUSE" ? resolve(undefined) : reject(error),
    );
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : port));
    });
  });
}

/**
 * Where the fleet's listeners go. A developer's `npm start` must not fail because another fleet (or anything
 * else) holds a default port: a listener that no variable placed moves to a free port of the same host, and
 * the move is printed. One its variable placed stays where it was asked to be; taken, that is an error
 * naming the address and the variable. (Another process may still take a port between this check and the
 * part's bind; the part then fails with the same one-line message and start stops the fleet.)
 */
export async function placeListeners(config: Config): Promise<PlacedListeners> {
  const metricsPort = config.ingressMetricsPort ?? config.settings.metrics.ingressPort;
  const listeners: FleetListener[] = [
    {
      what: "gRPC ingress",
      variable: "HEIDRUN_GRPC_ADDR",
      ...split(config.grpcAddr),
      fixed: config.listenersFromEnvironment.grpcAddr,
    },
    {
      what: "dashboard",
      variable: "HEIDRUN_DASHBOARD_ADDR",
      ...split(config.dashboardAddr),
      fixed: config.listenersFromEnvironment.dashboardAddr,
    },
    {
      what: "ingress metrics",
      variable: "HEIDRUN_INGRESS_METRICS_PORT",
      host: config.settings.metrics.host,
      port: metricsPort,
      fixed: config.listenersFromEnvironment.ingressMetricsPort,
    },
  ];
  const env: Record<string, string> = {};
  const moved: string[] = [];
  const placed: string[] = [];
  for (const listener of listeners) {
    let port = listener.port;
    if (port !== 0 && (await tryBind(listener.host, port)) === undefined) {
      const address = joined(listener.host, port);
      if (listener.fixed)
        throw new DomainError(
          "UNAVAILABLE",
          `${address} (${listener.what}) is already in use: set ${listener.variable} to move it`,
          { retryable: false },
        );
      port = (await tryBind(listener.host, 0)) ?? 0;
      moved.push(
        `${address} (${listener.what}) is in use; using ${joined(listener.host, port)} instead (${listener.variable} sets it)`,
      );
    }
    placed.push(joined(listener.host, port));
    env[listener.variable] =
      listener.variable === "HEIDRUN_INGRESS_METRICS_PORT" ? String(port) : placed.at(-1)!;
  }
  return { env, grpcAddr: placed[0]!, dashboardAddr: placed[1]!, moved };
}
