import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Batcher, type BatchResult } from "./batcher";

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function doubling(batches: number[][]) {
  return async (items: readonly number[]): Promise<BatchResult<number>[]> => {
    batches.push([...items]);
    return items.map((n) =>
      n < 0 ? { ok: false, error: new Error(`negative ${n}`) } : { ok: true, value: n * 2 },
    );
  };
}

describe("Batcher", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("flushes as soon as the batch is full and answers each item with its own result", async () => {
    const batches: number[][] = [];
    const batcher = new Batcher({ maxSize: () => 3, lingerMs: () => 1000, flush: doubling(batches) });
    const answers = [1, -2, 3, 4].map((n) => batcher.add(n).catch((e: Error) => e.message));
    expect(await Promise.all(answers.slice(0, 3))).toEqual([2, "negative -2", 6]);
    expect(batches).toEqual([[1, -2, 3]]);
    expect(batcher.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await answers[3]).toBe(8);
    expect(batches).toEqual([[1, -2, 3], [4]]);
  });

  it("flushes a partial batch after lingerMs counted from its first item", async () => {
    const batches: number[][] = [];
    const batcher = new Batcher({ maxSize: () => 100, lingerMs: () => 25, flush: doubling(batches) });
    const first = batcher.add(1);
    await vi.advanceTimersByTimeAsync(20);
    const second = batcher.add(2);
    await vi.advanceTimersByTimeAsync(4);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await Promise.all([first, second])).toEqual([2, 4]);
    expect(batches).toEqual([[1, 2]]);
  });

  it("fails every item when the flush throws or answers the wrong number of results", async () => {
    const throwing = new Batcher<number, number>({
      maxSize: () => 2,
      lingerMs: () => 10,
      flush: async () => {
        throw new Error("database down");
      },
    });
    const results = await Promise.allSettled([throwing.add(1), throwing.add(2)]);
    expect(results.map((r) => (r.status === "rejected" ? (r.reason as Error).message : "ok"))).toEqual([
      "database down",
      "database down",
    ]);
    const short = new Batcher<number, number>({
      maxSize: () => 2,
      lingerMs: () => 10,
      flush: async () => [{ ok: true, value: 1 }],
    });
    await expect(Promise.all([short.add(1), short.add(2)])).rejects.toThrow(
      "batch flush answered 1 results for 2 items",
    );
  });

  it("lets a full batch go out while the previous one is still being written", async () => {
    const gates = [deferred<void>(), deferred<void>()];
    const started: number[][] = [];
    const batcher = new Batcher<number, number>({
      maxSize: () => 2,
      lingerMs: () => 1000,
      flush: async (items) => {
        const gate = gates[started.length]!;
        started.push([...items]);
        await gate.promise;
        return items.map((n) => ({ ok: true, value: n }));
      },
    });
    const all = [1, 2, 3, 4].map((n) => batcher.add(n));
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(batcher.flushing).toBe(2);
    gates[1]!.resolve();
    gates[0]!.resolve();
    expect(await Promise.all(all)).toEqual([1, 2, 3, 4]);
  });

  it("holds due batches while every flush slot is busy, so a slow writer gets larger batches", async () => {
    const gates = [deferred<void>(), deferred<void>(), deferred<void>()];
    const started: number[][] = [];
    const batcher = new Batcher<number, number>({
      maxSize: () => 3,
      lingerMs: () => 10,
      maxConcurrentFlushes: () => 1,
      flush: async (items) => {
        const gate = gates[started.length]!;
        started.push([...items]);
        await gate.promise;
        return items.map((n) => ({ ok: true, value: n }));
      },
    });
    const first = batcher.add(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(started).toEqual([[1]]);
    // While [1] is being written: 2 lingers past its 10 ms, then 3 and 4 join it (full at 3), 5 starts another.
    const rest = [2].map((n) => batcher.add(n));
    await vi.advanceTimersByTimeAsync(50);
    rest.push(...[3, 4, 5].map((n) => batcher.add(n)));
    await vi.advanceTimersByTimeAsync(50);
    expect(started).toEqual([[1]]);
    expect(batcher.pending).toBe(4);
    gates[0]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual([[1], [2, 3, 4]]);
    gates[1]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(started).toEqual([[1], [2, 3, 4], [5]]);
    gates[2]!.resolve();
    expect(await Promise.all([first, ...rest])).toEqual([1, 2, 3, 4, 5]);
  });

  it("drain flushes the open batch at once, waits for it, and stops lingering", async () => {
    const batches: number[][] = [];
    const batcher = new Batcher({ maxSize: () => 100, lingerMs: () => 60_000, flush: doubling(batches) });
    const first = batcher.add(5);
    await batcher.drain();
    expect(await first).toBe(10);
    const late = batcher.add(6);
    await vi.advanceTimersByTimeAsync(0);
    expect(await late).toBe(12);
    expect(batches).toEqual([[5], [6]]);
    expect(batcher.flushing).toBe(0);
  });
});
