import { configStoreFor } from "@heidrun/config";
import { DomainError } from "@heidrun/core";
import { createRegistry, silentLogger } from "@heidrun/observability";
import type { TrackTokensBatchRequest, TrackTokensRequest } from "@heidrun/proto";
import { createRedis, jobIdFor, redisReady, SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext, IngressDeps, TokenHandlers } from "../context";
import { requestValidators } from "../validation";
import { createTokenHandlers } from "./token";

const ctx = useTestContext();
const call: CallContext = {
  principal: { keyId: "ygg00001", scope: "yggdrasil" },
  log: silentLogger(),
  signal: new AbortController().signal,
};
const producerSettings = () => ({
  attempts: 3,
  backoffMs: 100,
  keepCompletedSeconds: 600,
  keepFailedSeconds: 600,
  idempotencyWindowSeconds: 600,
});
const producers: SettlementProducer[] = [];
let handlers: TokenHandlers;
let producer: SettlementProducer;

function deps(withProducer: SettlementProducer): IngressDeps {
  const config = configStoreFor(ctx(), { queue: { prefix: ctx().redisPrefix } });
  // Only what the token handlers use.
  return {
    config,
    log: silentLogger(),
    registry: createRegistry(),
    pool: ctx().pool,
    db: ctx().db,
    redis: ctx().redis,
    producer: withProducer,
  } as never;
}

function newProducer(url: string): SettlementProducer {
  const created = new SettlementProducer({
    connection: createRedis(url, "producer"),
    prefix: ctx().redisPrefix,
    settings: producerSettings,
  });
  producers.push(created);
  return created;
}

/** As the adapter does: validate, then call the handler. */
async function track(request: TrackTokensRequest, using = handlers) {
  requestValidators.token.trackTokens(request, { nowMs: Date.now(), maxTtlSeconds: 86_400 });
  return using.trackTokens(request, call);
}

async function trackBatch(request: TrackTokensBatchRequest) {
  requestValidators.token.trackTokensBatch(request, { nowMs: Date.now(), maxTtlSeconds: 86_400 });
  return handlers.trackTokensBatch(request, call);
}

function request(requestId: string, overrides: Partial<TrackTokensRequest> = {}): TrackTokensRequest {
  return {
    requestId,
    accountId: "acct-1",
    providerId: "openai",
    model: "gpt-4o-mini",
    usage: { inputTokens: 1000n, outputTokens: 500n, cachedInputTokens: 100n, cacheWriteTokens: 0n },
    occurredAt: new Date("2026-11-01T12:00:00.000Z"),
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
}

async function queued(): Promise<number> {
  return producer.queue.getJobCountByTypes("waiting", "delayed", "active", "completed", "failed");
}

beforeAll(async () => {
  const connection = createRedis(ctx().redisUrl, "producer");
  await redisReady(connection);
  producer = new SettlementProducer({ connection, prefix: ctx().redisPrefix, settings: producerSettings });
  producers.push(producer);
  handlers = createTokenHandlers(deps(producer));
});
afterAll(async () => {
  await Promise.all(producers.map((p) => p.close().catch(() => {})));
});

describe("TrackTokens", () => {
  it("queues a new usage under its request_id and answers a repeat as a duplicate", async () => {
    expect(await track(request("t:1"))).toEqual({ requestId: "t:1", accepted: true, duplicate: false });
    const job = await producer.queue.getJob(jobIdFor("t:1"));
    expect(job?.name).toBe("track-usage");
    expect(job?.data).toEqual({
      requestId: "t:1",
      accountId: "acct-1",
      providerId: "openai",
      model: "gpt-4o-mini",
      usage: { inputTokens: "1000", outputTokens: "500", cachedInputTokens: "100", cacheWriteTokens: "0" },
      occurredAt: "2026-11-01T12:00:00.000Z",
      actor: "ygg00001",
    });
    expect(await track(request("t:1"))).toEqual({ requestId: "t:1", accepted: true, duplicate: true });
    const conflict = await rejection(
      track(
        request("t:1", {
          usage: { inputTokens: 1n, outputTokens: 0n, cachedInputTokens: 0n, cacheWriteTokens: 0n },
        }),
      ),
    );
    expect(conflict.code).toBe("ALREADY_EXISTS");
    expect(conflict.field).toBe("request_id");
  });

  it("stamps a missing occurred_at with now, and a retry without it is the same request", async () => {
    const before = Date.now();
    expect((await track(request("t:2", { occurredAt: undefined }))).duplicate).toBe(false);
    const at = Date.parse((await producer.queue.getJob(jobIdFor("t:2")))?.data.occurredAt);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
    expect((await track(request("t:2", { occurredAt: undefined }))).duplicate).toBe(true);
  });

  it("refuses occurred_at more than 5 minutes ahead", async () => {
    const error = await rejection(track(request("t:3", { occurredAt: new Date(Date.now() + 6 * 60_000) })));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.field).toBe("occurred_at");
  });

  it("answers UNAVAILABLE, never OK, when Redis does not answer", async () => {
    const dead = createTokenHandlers(deps(newProducer("redis://127.0.0.1:1")));
    const deadline = new Promise<string>((resolve) =>
      setTimeout(() => resolve("deadline passed"), 5000).unref(),
    );
    const outcome = await Promise.race([rejection(track(request("t:4"), dead)), deadline]);
    expect(outcome).toBeInstanceOf(DomainError);
    expect((outcome as DomainError).code).toBe("UNAVAILABLE");
  });
});

describe("TrackTokensBatch", () => {
  it("answers each item in order, in one queue write", async () => {
    await track(request("b:0"));
    const before = await queued();
    const response = await trackBatch({
      items: [request("b:1"), request("b:0"), request("b:2"), request("b:1")],
    });
    expect(response.results).toEqual([
      { requestId: "b:1", accepted: true, duplicate: false },
      { requestId: "b:0", accepted: true, duplicate: true },
      { requestId: "b:2", accepted: true, duplicate: false },
      { requestId: "b:1", accepted: true, duplicate: true },
    ]);
    expect(await queued()).toBe(before + 2);
  });

  it("rejects the whole batch naming the invalid item, and queues nothing", async () => {
    const before = await queued();
    const items = [request("v:0"), request("v:1"), request("v:2"), request("v:3"), request("v:4")];
    items[3]!.usage!.inputTokens = -1n;
    const error = await rejection(trackBatch({ items }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.field).toBe("items[3].usage.input_tokens");
    expect(await queued()).toBe(before);
    expect(await producer.queue.getJob(jobIdFor("v:0"))).toBeUndefined();
  });

  it("rejects more than 1000 items and names a conflicting item", async () => {
    const tooMany = Array.from({ length: 1001 }, (_, i) => request(`m:${i}`));
    expect((await rejection(trackBatch({ items: tooMany }))).field).toBe("items");
    const conflict = await rejection(
      trackBatch({ items: [request("c:0"), request("t:1", { accountId: "someone-else" })] }),
    );
    expect(conflict.code).toBe("ALREADY_EXISTS");
    expect(conflict.field).toBe("items[1].request_id");
    expect(await producer.queue.getJob(jobIdFor("c:0"))).toBeUndefined();
  });
});
