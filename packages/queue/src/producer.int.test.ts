import type { DomainError } from "@heidrun/core";
import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AnyJob, jobIdFor, requestIdOfJob } from "./catalog";
import { createRedis, redisReady } from "./connection";
import { type EnqueueItem, type ProducerSettings, SettlementProducer } from "./producer";

const ctx = useTestContext();
const settings: ProducerSettings = {
  attempts: 3,
  backoffMs: 100,
  keepCompletedSeconds: 60,
  keepFailedSeconds: 60,
  idempotencyWindowSeconds: 600,
};
let producer: SettlementProducer;

function item(requestId: string, inputTokens = "10"): EnqueueItem {
  const job: AnyJob = {
    name: "track-usage",
    data: {
      requestId,
      accountId: "acct-1",
      providerId: "prov-1",
      model: "gpt-4o-mini",
      usage: { inputTokens, outputTokens: "5", cachedInputTokens: "0", cacheWriteTokens: "0" },
      occurredAt: "2026-11-25T12:00:00.000Z",
      actor: "test",
    },
  };
  return { requestId, fingerprint: `fp:${inputTokens}`, job };
}

beforeAll(async () => {
  const connection = createRedis(ctx().redisUrl, "producer");
  await redisReady(connection);
  producer = new SettlementProducer({
    connection,
    prefix: ctx().redisPrefix,
    settings: () => settings,
  });
});
afterAll(async () => {
  await producer.close();
});

async function jobCount(): Promise<number> {
  return producer.queue.getJobCountByTypes("waiting", "delayed", "active", "completed", "failed");
}

describe("SettlementProducer", () => {
  it("encodes request ids with ':' into distinct job ids", () => {
    expect(jobIdFor("ygg:1")).toBe("req~ygg~1");
    expect(jobIdFor("ygg:1")).not.toBe(jobIdFor("ygg-1"));
    expect(requestIdOfJob(jobIdFor("a:b:c"))).toBe("a:b:c");
  });

  it("marks a queued request in its window before any later command on the connection runs", async () => {
    const connection = createRedis(ctx().redisUrl, "producer");
    await redisReady(connection);
    const own = new SettlementProducer({
      connection,
      prefix: `${ctx().redisPrefix}:mark`,
      settings: () => settings,
    });
    try {
      await own.enqueue([item("mark-1")]);
      // The mark is sent without waiting for its answer; the next command on the same connection sees it.
      expect(await connection.get(own.idempotencyKey("mark-1"))).toBe("q|fp:10");
      expect(await own.enqueue([item("mark-1")])).toEqual([{ requestId: "mark-1", duplicate: true }]);
    } finally {
      await own.close();
      connection.disconnect();
    }
  });

  it("queues a new request once and answers repeats as duplicates", async () => {
    expect(await producer.enqueue([item("r:1")])).toEqual([{ requestId: "r:1", duplicate: false }]);
    expect(await producer.enqueue([item("r:1")])).toEqual([{ requestId: "r:1", duplicate: true }]);
    const job = await producer.queue.getJob(jobIdFor("r:1"));
    expect(job?.data.requestId).toBe("r:1");
    expect(await jobCount()).toBe(1);
  });

  it("rejects a repeat with other arguments and queues nothing of that batch", async () => {
    const before = await jobCount();
    const error = (await producer.enqueue([item("r:2"), item("r:1", "11")]).catch((e) => e)) as DomainError;
    expect(error.code).toBe("ALREADY_EXISTS");
    expect(await jobCount()).toBe(before);
    // r:2's claim was rolled back, so it is new again.
    expect(await producer.enqueue([item("r:2")])).toEqual([{ requestId: "r:2", duplicate: false }]);
  });

  it("answers a repeat inside one batch as a duplicate and queues it once", async () => {
    const before = await jobCount();
    const outcomes = await producer.enqueue([item("r:3"), item("r:3")]);
    expect(outcomes.map((o) => o.duplicate)).toEqual([false, true]);
    expect(await jobCount()).toBe(before + 1);
  });

  it("queues again a request whose first enqueue died after the claim", async () => {
    await ctx().redis.set(producer.idempotencyKey("r:4"), "p|fp:10", "EX", 600);
    expect(await producer.enqueue([item("r:4")])).toEqual([{ requestId: "r:4", duplicate: true }]);
    expect(await producer.queue.getJob(jobIdFor("r:4"))).toBeDefined();
    expect(await ctx().redis.get(producer.idempotencyKey("r:4"))).toBe("q|fp:10");
  });

  it("fails fast with UNAVAILABLE when Redis does not answer", async () => {
    const dead = new SettlementProducer({
      connection: createRedis("redis://127.0.0.1:1", "producer"),
      prefix: ctx().redisPrefix,
      settings: () => settings,
    });
    const error = (await dead.enqueue([item("r:5")]).catch((e) => e)) as DomainError;
    expect(error.code).toBe("UNAVAILABLE");
    expect(error.retryable).toBe(true);
    await dead.close().catch(() => {});
  });
});
