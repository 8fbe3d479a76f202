import { createServer } from "node:net";

/**
 * A loopback port the kernel had free a moment ago, for a child server (a private redis-server or PostgreSQL,
 * a gRPC listener in a test). Another process may take it before the child binds; callers that can listen on
 * port 0 themselves should do that instead.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
