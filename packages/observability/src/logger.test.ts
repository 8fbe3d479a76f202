import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { bigintsToStrings, createLogger } from "./logger";
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

describe("bigintsToStrings", () => {
  it("turns bigints into exact strings at any depth, without touching its input", () => {
    const input = { total: 10n ** 20n, items: [1n, "a", { fee: 2n }], at: new Date(0), name: "x" };
    expect(bigintsToStrings(input)).toEqual({
      total: "100000000000000000000",
      items: ["1", "a", { fee: "2" }],
      at: new Date(0),
      name: "x",
    });
    expect(input.total).toBe(10n ** 20n);
    expect(input.items[0]).toBe(1n);
  });

  it("answers a line without bigints as the very same object (no copy per log line)", () => {
    const line = { code: "OK", duration_ms: 0.4, nested: { key_id: "k1" }, list: [1, 2] };
    expect(bigintsToStrings(line)).toBe(line);
  });
});

describe("stdout logging", () => {
  it("shows a lone line of a quiet process within the flush interval, without waiting for its exit", async () => {
    const { spawn } = await import("node:child_process");
    const logger = new URL("./logger.ts", import.meta.url).href;
    const script = `
      import { createLogger } from ${JSON.stringify(logger)};
      createLogger({ name: "quiet" }).info("alone");
      setTimeout(() => {}, 60_000);`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script]);
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => resolve(String(chunk)));
        child.once("exit", (code) => reject(new Error(`exited (${code}) before logging`)));
      });
      expect(JSON.parse(line)).toMatchObject({ msg: "alone", service: "quiet" });
    } finally {
      child.kill();
    }
  });

  it("is asynchronous, yet every line logged before process.exit() reaches stdout", async () => {
    const { spawnSync } = await import("node:child_process");
    const logger = new URL("./logger.ts", import.meta.url).href;
    const script = `
      import { createLogger } from ${JSON.stringify(logger)};
      const log = createLogger({ name: "exit-test" });
      for (let i = 0; i < 20000; i++) log.info({ i, amountMicros: 10n ** 18n }, "line");
      process.exit(0);`;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60_000,
    });
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(20000);
    expect(JSON.parse(lines[19999]!)).toMatchObject({ i: 19999, amountMicros: "1000000000000000000" });
  });
});
