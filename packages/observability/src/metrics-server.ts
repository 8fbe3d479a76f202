import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import { listenFailure } from "./listen-failure";

export interface MetricsServer {
  /** The port it listens on (useful when asked for port 0). */
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` for one process, so every ingress and worker can be scraped on its own; the dashboard
 * serves its own registry and the fleet-wide gauges.
 */
export async function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
  names: { what: string; movedBy: string },
): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(listenFailure(error, { ...names, address: `${host}:${port}` })));
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
