import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "./logger";

const dir = mkdtempSync(join(tmpdir(), "heidrun-logs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function highestNumber(): number {
  const numbers = readdirSync(dir).map((f) => Number(f.split(".")[1]));
  return Math.max(0, ...numbers);
}

async function until(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 200 && !condition(); attempt++) await new Promise((r) => setTimeout(r, 25));
  expect(condition()).toBe(true);
}

describe("rotating log file", () => {
  it("rolls over to numbered files once the size limit is passed, keeping at most keepFiles", async () => {
    const log = createLogger({
      name: "rotation-test",
      stdout: false,
      file: { path: join(dir, "heidrun.log"), rotateSize: "1k", keepFiles: 3 },
    });
    const filler = "x".repeat(200);
    // The roll happens after the write that crossed the limit drains, so write in rounds and await each roll.
    for (let round = 0; round < 4; round++) {
      for (let i = round * 10; i < round * 10 + 10; i++) log.info({ i, filler }, "line");
      await new Promise<void>((resolve, reject) => log.flush((error) => (error ? reject(error) : resolve())));
      await until(() => highestNumber() >= round + 2);
    }
    log.info({ i: 40, filler }, "line");
    await new Promise<void>((resolve, reject) => log.flush((error) => (error ? reject(error) : resolve())));
    const transport = (log as unknown as Record<symbol, NodeJS.WritableStream>)[pino.symbols.streamSym];
    if (!transport) throw new Error("the logger has no transport stream");
    await new Promise<void>((resolve) => {
      transport.once("close", () => resolve());
      transport.end();
    });

    let files = readdirSync(dir).sort();
    expect(highestNumber()).toBe(5);
    // keepFiles rotated files besides the one in use; old ones are removed right after a roll.
    await until(() => readdirSync(dir).length === 4);
    files = readdirSync(dir).sort();
    for (const file of files) expect(file).toMatch(/^heidrun\.\d+\.log$/);
    const newest = files.map((f) => ({ f, n: Number(f.split(".")[1]) })).sort((a, b) => b.n - a.n)[0]!.f;
    const lastLine = readFileSync(join(dir, newest), "utf8").trim().split("\n").at(-1)!;
    expect(JSON.parse(lastLine)).toMatchObject({ i: 40, msg: "line", service: "rotation-test" });
  });
});
