import { describe, expect, it } from "vitest";
import { MicroBatcher } from "./preauths-batcher";
import { holdRounds } from "./preauths-grant";

describe("MicroBatcher", () => {
  it("answers a lone call in a batch of its own and groups calls that arrive while batches run", async () => {
    const batches: number[][] = [];
    const gates: (() => void)[] = [];
    const batcher = new MicroBatcher<number, string>(
      async (items) => {
        batches.push(items);
        await new Promise<void>((resolve) => gates.push(resolve));
        return items.map((n) => (n === 4 ? new Error("four") : `#${n}`));
      },
      { maxBatch: 3, maxConcurrent: 1 },
    );
    const calls = [1, 2, 3, 4, 5].map((n) => batcher.submit(n).catch((e: Error) => e.message));
    expect(batches).toEqual([[1]]);
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1], [2, 3, 4]]);
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    gates.shift()?.();
    expect(await Promise.all(calls)).toEqual(["#1", "#2", "#3", "four", "#5"]);
    expect(batches).toEqual([[1], [2, 3, 4], [5]]);
  });

  it("rejects every item of a batch whose run throws", async () => {
    const batcher = new MicroBatcher<number, number>(
      async () => {
        throw new Error("down");
      },
      { maxBatch: 10, maxConcurrent: 1 },
    );
    const results = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });
});

describe("holdRounds", () => {
  it("puts each account and each request_id at most once in a round, keeping order", () => {
    const item = (accountId: string, requestId: string) => ({ accountId, requestId });
    const rounds = holdRounds([
      item("a", "1"),
      item("a", "2"),
      item("b", "3"),
      item("c", "1"),
      item("a", "4"),
    ]);
    expect(rounds).toEqual([
      [item("a", "1"), item("b", "3")],
      [item("a", "2"), item("c", "1")],
      [item("a", "4")],
    ]);
  });
});
