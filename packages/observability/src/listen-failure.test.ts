import { createServer, type Server } from "node:net";
import { DomainError } from "@heidrun/core";
import { afterAll, describe, expect, it } from "vitest";
import { listenFailure } from "./listen-failure";
import { createRegistry } from "./metrics";
import { serveMetrics } from "./metrics-server";

const held: Server[] = [];
afterAll(() => Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve)))));

function holdPort(): Promise<number> {
  const server = createServer();
  held.push(server);
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
}

describe("a listener that cannot bind", () => {
  it("says in one line which address is taken and what moves it", async () => {
    const port = await holdPort();
    const failure = await serveMetrics(createRegistry(), "127.0.0.1", port, {
      what: "ingress metrics",
      movedBy: "HEIDRUN_INGRESS_METRICS_PORT",
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DomainError);
    expect(failure).toMatchObject({
      code: "UNAVAILABLE",
      retryable: false,
      message: `127.0.0.1:${port} (ingress metrics) is already in use: set HEIDRUN_INGRESS_METRICS_PORT to move it`,
    });
  });

  it("reads grpc-js's folded message, and passes other errors through", () => {
    const grpc = new Error(
      "No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use 127.0.0.1:5]",
    );
    const name = { what: "gRPC ingress", address: "127.0.0.1:5", movedBy: "HEIDRUN_GRPC_ADDR" };
    expect((listenFailure(grpc, name) as Error).message).toBe(
      "127.0.0.1:5 (gRPC ingress) is already in use: set HEIDRUN_GRPC_ADDR to move it",
    );
    expect((listenFailure(Object.assign(new Error("x"), { code: "EACCES" }), name) as Error).message).toBe(
      "127.0.0.1:5 (gRPC ingress) may not be bound by this user (ports below 1024 need privileges): set HEIDRUN_GRPC_ADDR to move it",
    );
    const other = new Error("certificate unreadable");
    expect(listenFailure(other, name)).toBe(other);
  });
});
