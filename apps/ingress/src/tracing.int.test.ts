import { Writable } from "node:stream";
import { credentials, Metadata } from "@grpc/grpc-js";
import { type ConfigStore, configStoreFor } from "@heidrun/config";
import { createDb, createPool, PriceCache, priceChannel, setPrice } from "@heidrun/db";
import {
  createLogger,
  createRegistry,
  silentLogger,
  startTracing,
  type Tracing,
  tracePgPool,
  traceRedis,
  tracer,
} from "@heidrun/observability";
import { TokenServiceClient, TrackTokensRequest } from "@heidrun/proto";
import { createRedis, jobIdFor, SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { createWorker, type SettlementWorker } from "@heidrun/worker";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { Job } from "bullmq";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngressDeps } from "./context";
import { createIngress, type Ingress } from "./server";
import { unary, YGGDRASIL_KEY } from "./test-harness";

const ctx = useTestContext();
const exporter = new InMemorySpanExporter();
const CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";

let tracing: Tracing;
let ingress: Ingress;
let worker: SettlementWorker;
let client: TokenServiceClient;
let producer: SettlementProducer;
const pools: pg.Pool[] = [];
const completed = new Map<string, unknown>();
const logLines: Record<string, unknown>[] = [];
const logDestination = new Writable({
  write(chunk, _encoding, done) {
    logLines.push(JSON.parse(String(chunk)));
    done();
  },
});
const waiters: Array<() => void> = [];

function config(): ConfigStore {
  return configStoreFor(
    ctx(),
    { queue: { prefix: ctx().redisPrefix }, worker: { lingerMs: 10 }, redis: { durabilityCheck: "off" } },
    { apiKeys: [YGGDRASIL_KEY] },
  );
}

/** A pool whose queries become child spans, as run.ts makes them when tracing is on. */
function tracedPool(): pg.Pool {
  const pool = createPool(ctx().databaseUrl, { max: 4, applicationName: "heidrun-tracing-test" });
  tracePgPool(pool);
  pools.push(pool);
  return pool;
}

beforeAll(async () => {
  tracing = startTracing({ serviceName: "heidrun-test", exporter });
  await setPrice(
    ctx().db,
    {
      providerId: "openai",
      model: "gpt-4o-mini",
      inputMicrosPerMtok: 150_000n,
      outputMicrosPerMtok: 600_000n,
      effectiveFrom: new Date("2026-01-01Z"),
    },
    { requestId: "seed-price-1", actor: "test" },
  );

  const ingressConfig = config();
  const producerRedis = createRedis(ctx().redisUrl, "producer");
  traceRedis(producerRedis);
  producer = new SettlementProducer({
    connection: producerRedis,
    prefix: ctx().redisPrefix,
    settings: () => ({
      ...ingressConfig.current().settings.queue,
      idempotencyWindowSeconds: ingressConfig.current().settings.idempotencyWindowSeconds,
    }),
  });
  const ingressPool = tracedPool();
  // TrackTokens needs only the producer; health needs the pool and Redis.
  ingress = createIngress({
    config: ingressConfig,
    log: createLogger({ name: "ingress", destination: logDestination }),
    registry: createRegistry(),
    pool: ingressPool,
    db: createDb(ingressPool),
    redis: producerRedis,
    producer,
  } as IngressDeps);
  const { port } = await ingress.start("127.0.0.1:0");
  client = new TokenServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());

  const workerPool = tracedPool();
  const workerDb = createDb(workerPool);
  const priceCache = new PriceCache({
    db: workerDb,
    channel: priceChannel(ctx().redisPrefix),
    refreshIntervalMs: 60_000,
  });
  worker = createWorker({
    config: config(),
    log: silentLogger(),
    registry: createRegistry(),
    pool: workerPool,
    db: workerDb,
    connection: ctx().newRedis({ forWorker: true }),
    priceCache,
  });
  worker.worker.on("completed", (job: Job, result: unknown) => {
    completed.set(job.data.requestId, result);
    for (const wake of waiters.splice(0)) wake();
  });
  await worker.start();
});

afterAll(async () => {
  client?.close();
  await worker?.stop();
  await ingress?.stop();
  await producer?.close();
  await Promise.all(pools.map((pool) => pool.end()));
  await tracing?.shutdown();
});

async function settled(requestId: string): Promise<unknown> {
  while (!completed.has(requestId)) await new Promise<void>((resolve) => waiters.push(resolve));
  return completed.get(requestId);
}

const byName = (spans: ReadableSpan[], name: string) => spans.filter((span) => span.name === name);

describe("one trace from the caller's traceparent to the settlement batch", () => {
  it("continues the call, carries the context in the job, and links the batch to it", async () => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${YGGDRASIL_KEY.key}`);
    metadata.set("traceparent", `00-${CALLER_TRACE}-${CALLER_SPAN}-01`);
    const response = await unary(
      client.trackTokens.bind(client),
      TrackTokensRequest.fromPartial({
        requestId: "trace-1",
        accountId: "acct-trace",
        providerId: "openai",
        model: "gpt-4o-mini",
        usage: { inputTokens: 1000n, outputTokens: 500n, cachedInputTokens: 0n, cacheWriteTokens: 0n },
        occurredAt: new Date("2026-03-01T10:00:00Z"),
      }),
      metadata,
    );
    expect(response).toEqual({ requestId: "trace-1", accepted: true, duplicate: false });
    expect(await settled("trace-1")).toMatchObject({ status: "settled" });

    const spans = exporter.getFinishedSpans();
    const [server] = byName(spans, "heidrun.v1.TokenService/TrackTokens");
    expect({
      trace: server?.spanContext().traceId,
      parent: server?.parentSpanContext?.spanId,
      kind: server?.kind,
      status: server?.attributes["rpc.grpc.status_code"],
    }).toEqual({ trace: CALLER_TRACE, parent: CALLER_SPAN, kind: SpanKind.SERVER, status: 0 });
    const serverSpan = server!.spanContext().spanId;

    // The job carries the ingress span as its parent.
    const job = await producer.queue.getJob(jobIdFor("trace-1"));
    expect(job?.data.trace).toEqual({ traceparent: `00-${CALLER_TRACE}-${serverSpan}-01` });

    // Redis commands of the enqueue are children of the call.
    const redisChildren = spans.filter(
      (span) => span.name.startsWith("redis.") && span.parentSpanContext?.spanId === serverSpan,
    );
    expect(redisChildren.length).toBeGreaterThan(0);
    expect(new Set(redisChildren.map((span) => span.spanContext().traceId))).toEqual(new Set([CALLER_TRACE]));

    // The worker's job span continues the same trace under the ingress span.
    const [jobSpan] = byName(spans, "settle track-usage");
    expect({
      trace: jobSpan?.spanContext().traceId,
      parent: jobSpan?.parentSpanContext?.spanId,
      kind: jobSpan?.kind,
      request: jobSpan?.attributes["heidrun.request_id"],
    }).toEqual({ trace: CALLER_TRACE, parent: serverSpan, kind: SpanKind.CONSUMER, request: "trace-1" });

    // The batch transaction is its own span, linked to the job, with the SQL as its children.
    const batch = byName(spans, "settle batch").find((span) =>
      span.links.some((link) => link.context.spanId === jobSpan!.spanContext().spanId),
    );
    expect(batch?.links.map((link) => link.context.traceId)).toEqual([CALLER_TRACE]);
    const sql = spans.filter((span) => span.parentSpanContext?.spanId === batch?.spanContext().spanId);
    expect(sql.map((span) => span.name)).toContain("pg.query:BEGIN");
    expect(sql.map((span) => span.name)).toContain("pg.query:COMMIT");

    // The call's log line names the trace and the server span.
    const line = logLines.find((entry) => entry.msg === "rpc" && entry.request_id === "trace-1");
    expect({ trace: line?.trace_id, span: line?.span_id }).toEqual({ trace: CALLER_TRACE, span: serverSpan });
  });

  it("starts a new trace for a call without traceparent and still hands it to the job", async () => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${YGGDRASIL_KEY.key}`);
    await unary(
      client.trackTokens.bind(client),
      TrackTokensRequest.fromPartial({
        requestId: "trace-2",
        accountId: "acct-trace",
        providerId: "openai",
        model: "gpt-4o-mini",
        usage: { inputTokens: 10n, outputTokens: 5n, cachedInputTokens: 0n, cacheWriteTokens: 0n },
        occurredAt: new Date("2026-03-01T10:00:00Z"),
      }),
      metadata,
    );
    await settled("trace-2");
    const server = byName(exporter.getFinishedSpans(), "heidrun.v1.TokenService/TrackTokens").at(-1)!;
    expect(server.parentSpanContext).toBeUndefined();
    const job = await producer.queue.getJob(jobIdFor("trace-2"));
    expect(job?.data.trace).toEqual({
      traceparent: `00-${server.spanContext().traceId}-${server.spanContext().spanId}-01`,
    });
  });
});

describe("child spans of database calls", () => {
  it("traces pool.query (pg-pool's callback form) and records a failing statement as an error", async () => {
    const pool = tracedPool();
    const parent = await tracer().startActiveSpan("parent", async (span) => {
      await pool.query("SELECT 1 AS one");
      await pool.query("SELECT * FROM no_such_table").catch(() => undefined);
      span.end();
      return span.spanContext().spanId;
    });
    await pool.query("SELECT 2");
    const children = exporter
      .getFinishedSpans()
      .filter((span) => span.parentSpanContext?.spanId === parent)
      .map((span) => ({
        name: span.name,
        text: span.attributes["db.query.text"],
        error: span.status.code === SpanStatusCode.ERROR,
      }));
    expect(children).toEqual([
      { name: "pg.query:SELECT", text: "SELECT 1 AS one", error: false },
      { name: "pg.query:SELECT", text: "SELECT * FROM no_such_table", error: true },
    ]);
    expect(exporter.getFinishedSpans().some((span) => span.attributes["db.query.text"] === "SELECT 2")).toBe(
      false,
    );
  });
});
