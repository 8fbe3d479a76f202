import { threadId as mainThreadId } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { tokenCounter } from "./counters";
import { CountWorkerPool } from "./pool";
import type { BpeTokenizerName } from "./text-count.mjs";

describe("CountWorkerPool", () => {
  const pool = new CountWorkerPool({ size: 1, maxQueued: 2, preload: ["o200k_base"] });
  afterAll(() => pool.close());

  it("counts in a worker thread and reports which one", async () => {
    const texts = ["hello world", "tiktoken is great!"];
    const result = await pool.count("o200k_base", texts);
    expect(result.tokens).toBe(2 + 6);
    expect(result.threadId).not.toBe(mainThreadId);
    expect(pool.stats()).toEqual({ completed: 1, queued: 0, busy: 0, workers: 1 });
  });

  it("serves its queue first in, first out, and refuses beyond maxQueued", async () => {
    const finished: number[] = [];
    const tasks = [1, 2, 3].map((n) =>
      pool.count("o200k_base", ["word ".repeat(20_000 * n)]).then(() => finished.push(n)),
    );
    // One running, two waiting: the queue is full.
    expect(pool.stats()).toMatchObject({ queued: 2, busy: 1 });
    await expect(pool.count("o200k_base", ["x"])).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      retryable: true,
    });
    await Promise.all(tasks);
    expect(finished).toEqual([1, 2, 3]);
    expect(pool.stats()).toMatchObject({ completed: 4, queued: 0, busy: 0 });
  });

  it("fails only the task whose count failed, with INTERNAL, and keeps serving", async () => {
    await expect(pool.count("p50k_base" as BpeTokenizerName, ["x"])).rejects.toMatchObject({
      code: "INTERNAL",
      message: 'token counting failed: no BPE tokenizer named "p50k_base"',
    });
    const claude = await pool.count("claude", ["hello world!"]);
    expect(BigInt(claude.tokens)).toBe(tokenCounter("claude").countText("hello world!"));
  });

  it("with maxQueued 0 still serves a free worker, and refuses only what would wait", async () => {
    const noQueue = new CountWorkerPool({ size: 1, maxQueued: 0, preload: [] });
    const served = noQueue.count("o200k_base", ["hello world"]);
    await expect(noQueue.count("o200k_base", ["x"])).rejects.toMatchObject({ code: "RESOURCE_EXHAUSTED" });
    expect((await served).tokens).toBe(2);
    await noQueue.close();
  });

  it("rejects waiting tasks with UNAVAILABLE on close", async () => {
    const closing = new CountWorkerPool({ size: 1, maxQueued: 4, preload: [] });
    const running = closing.count("o200k_base", ["a"]);
    const waiting = closing.count("o200k_base", ["b"]);
    const outcomes = Promise.allSettled([running, waiting]);
    await closing.close();
    const reasons = (await outcomes).map((outcome) => outcome.status === "rejected" && outcome.reason.code);
    expect(reasons).toEqual(["UNAVAILABLE", "UNAVAILABLE"]);
    expect(closing.stats()).toEqual({ completed: 0, queued: 0, busy: 0, workers: 0 });
  });
});
