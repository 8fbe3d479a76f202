import { describe, expect, it } from "vitest";
import { Counter, createRegistry } from "./metrics";
import { serveMetrics } from "./metrics-server";

describe("serveMetrics", () => {
  it("serves the registry at /metrics and nothing else", async () => {
    const registry = createRegistry({ process_role: "test" });
    new Counter({ name: "heidrun_test_total", help: "a test counter", registers: [registry] }).inc(3);
    const server = await serveMetrics(registry, "127.0.0.1", 0, {
      what: "test metrics",
      movedBy: "TEST_PORT",
    });
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(response.status).toBe(200);
      expect(await response.text()).toMatch(/^heidrun_test_total\{process_role="test"\} 3$/m);
      expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
