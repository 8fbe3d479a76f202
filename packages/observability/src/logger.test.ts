import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger";
import { createRegistry } from "./metrics";

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join("")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line)),
  };
}

describe("createLogger", () => {
  it("writes JSON with bigints as exact strings and child bindings", () => {
    const out = capture();
    const log = createLogger({ name: "test", destination: out.stream });
    log
      .child({ request_id: "r-1" })
      .info({ totalCostMicros: 9_223_372_036_854_775_807n, nested: { fee: 15n } }, "settled");
    const [line] = out.lines();
    expect(line).toMatchObject({
      msg: "settled",
      request_id: "r-1",
      service: "test",
      totalCostMicros: "9223372036854775807",
      nested: { fee: "15" },
    });
  });
});

describe("createRegistry", () => {
  it("exposes default process metrics with the heidrun prefix", async () => {
    const text = await createRegistry({ process_role: "test" }).metrics();
    expect(text).toMatch(/^heidrun_process_cpu_user_seconds_total\{process_role="test"\}/m);
  });
});
