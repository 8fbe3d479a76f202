/**
 * TrackTokensBatch throughput: events per second acknowledged (queued) in batches of 1,000 with four
 * calls in flight, through the handler (validation, fingerprints, idempotency window, one addBulk) and through
 * a grpc-js client and the ingress server, beside raw BullMQ `addBulk` of the same jobs with the same options
 * (no validation, no idempotency window) in the same run.
 *
 *   npx tsx bench/track.bench.ts [--quick]
 *
 * Prints JSON lines ({path, heidrun, baseline, ratio, unit, goal, pass, ...}) and readable lines. Goal: at
 * least 20,000 events/s and 0.7× raw addBulk. Needs Redis and PostgreSQL; uses a Redis prefix and a database
 * of its own that it removes afterwards. No worker runs, so every job stays queued until the prefix is dropped.
 */
import { pathToFileURL } from "node:url";
import { credentials, Metadata } from "@grpc/grpc-js";
import { type ConfigStore, configStoreFor, parseEnv } from "@heidrun/config";
import { createIngress } from "@heidrun/ingress";
import { createRegistry, silentLogger } from "@heidrun/observability";
import {
  TokenServiceClient,
  type TrackTokensBatchRequest,
  type TrackTokensBatchResponse,
  type TrackTokensRequest,
} from "@heidrun/proto";
import { createRedis, redisReady, SettlementProducer, usageToPayload } from "@heidrun/queue";
import { createTestContext, type TestContext } from "@heidrun/testing";
import { createTokenHandlers } from "../apps/ingress/src/handlers/token";
import { requestValidators } from "../apps/ingress/src/validation";

export interface TrackBenchLine {
  path: string;
  heidrun: number;
  baseline: number;
  ratio: number;
  unit: string;
  goal: string;
  pass: boolean;
  detail: string;
  events: number;
}

const BATCH = 1000;
const IN_FLIGHT = 4;
const GOAL_PER_SECOND = 20_000;
const GOAL_RATIO = 0.7;
const API_KEY = "track-bench-key-0000000001";

function batch(tag: string, index: number): TrackTokensRequest[] {
  const occurredAt = new Date();
  return Array.from({ length: BATCH }, (_, i) => ({
    requestId: `${tag}-${index}-${i}`,
    accountId: `acct-${i % 500}`,
    providerId: "openai",
    model: "gpt-4o-mini",
    usage: {
      inputTokens: BigInt(100 + i),
      outputTokens: BigInt(i % 300),
      cachedInputTokens: 0n,
      cacheWriteTokens: 0n,
    },
    occurredAt,
  }));
}

/** Sends `events / BATCH` batches, IN_FLIGHT at a time; answers events per second. */
async function measure(events: number, send: (index: number) => Promise<void>): Promise<number> {
  const batches = events / BATCH;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < batches) await send(next++);
    }),
  );
  return Math.round(events / ((performance.now() - t0) / 1000));
}

function config(ctx: TestContext): ConfigStore {
  return configStoreFor(
    ctx,
    { queue: { prefix: ctx.redisPrefix }, redis: { durabilityCheck: "off" } },
    {
      grpcAddr: "0.0.0.0:50051",
      dashboardAddr: "127.0.0.1:3000",
      services: "auto",
      apiKeys: parseEnv({ HEIDRUN_API_KEYS: `${API_KEY}=yggdrasil` }).HEIDRUN_API_KEYS,
    },
  );
}

export async function run(opts: { quick: boolean }): Promise<TrackBenchLine[]> {
  const events = opts.quick ? 20_000 : 100_000;
  const ctx = await createTestContext();
  const connection = createRedis(ctx.redisUrl, "producer");
  await redisReady(connection);
  const store = config(ctx);
  const settings = store.current().settings;
  const producer = new SettlementProducer({
    connection,
    prefix: ctx.redisPrefix,
    settings: () => ({ ...settings.queue, idempotencyWindowSeconds: settings.idempotencyWindowSeconds }),
  });
  // What the token handlers and the server use; the other services are not called here.
  const deps = {
    config: store,
    log: silentLogger(),
    registry: createRegistry(),
    pool: ctx.pool,
    db: ctx.db,
    redis: connection,
    producer,
  } as never;
  const handlers = createTokenHandlers(deps);
  const ingress = createIngress(deps);
  const { port } = await ingress.start("127.0.0.1:0");
  const client = new TokenServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${API_KEY}`);
  const call = {
    principal: { keyId: "bench", scope: "yggdrasil" as const },
    log: silentLogger(),
    signal: new AbortController().signal,
  };
  const grpcBatch = (request: TrackTokensBatchRequest) =>
    new Promise<TrackTokensBatchResponse>((resolve, reject) =>
      client.trackTokensBatch(request, metadata, (error, response) =>
        error ? reject(error) : resolve(response),
      ),
    );
  try {
    const paths: Record<"raw" | "handler" | "grpc", (tag: string, index: number) => Promise<void>> = {
      raw: async (tag, index) => {
        await producer.queue.addBulk(
          batch(tag, index).map((item) => ({
            name: "track-usage",
            data: {
              requestId: item.requestId,
              accountId: item.accountId,
              providerId: item.providerId,
              model: item.model,
              usage: usageToPayload(item.usage!),
              occurredAt: item.occurredAt!.toISOString(),
              actor: "bench",
            },
            opts: producer.jobOptions(item.requestId),
          })),
        );
      },
      handler: async (tag, index) => {
        const request = { items: batch(tag, index) };
        requestValidators.token.trackTokensBatch(request, { nowMs: Date.now(), maxTtlSeconds: 86_400 });
        const response = await handlers.trackTokensBatch(request, call);
        if (response.results.length !== BATCH) throw new Error("short answer");
      },
      grpc: async (tag, index) => {
        const response = await grpcBatch({ items: batch(tag, index) });
        if (response.results.length !== BATCH) throw new Error("short answer");
      },
    };
    // Rounds alternate the three paths, so a change in the machine's load hits all of them; medians are kept.
    const rounds = opts.quick ? 3 : 5;
    const perRound = Math.max(BATCH, Math.floor(events / rounds / BATCH) * BATCH);
    const rates: Record<keyof typeof paths, number[]> = { raw: [], handler: [], grpc: [] };
    for (let round = 0; round < rounds; round++) {
      for (const name of ["raw", "handler", "grpc"] as const) {
        rates[name].push(await measure(perRound, (index) => paths[name](`${name}-${round}`, index)));
        await producer.queue.obliterate({ force: true });
      }
    }
    const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]!;
    const raw = median(rates.raw);
    const viaHandler = median(rates.handler);
    const viaGrpc = median(rates.grpc);
    const line = (path: string, heidrun: number): TrackBenchLine => ({
      path,
      heidrun,
      baseline: raw,
      ratio: Math.round((heidrun / raw) * 100) / 100,
      unit: "events/s",
      goal: `>= ${GOAL_PER_SECOND}/s and ratio >= ${GOAL_RATIO}`,
      pass: heidrun >= GOAL_PER_SECOND && heidrun / raw >= GOAL_RATIO,
      detail: `medians of ${rounds} alternating rounds of ${perRound} events`,
      events: perRound * rounds,
    });
    return [
      line("ingress/TrackTokensBatch (handler → producer) vs raw addBulk", viaHandler),
      line("ingress/TrackTokensBatch (gRPC) vs raw addBulk", viaGrpc),
    ];
  } finally {
    client.close();
    await ingress.stop();
    await producer.close();
    connection.disconnect();
    await ctx.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const lines = await run({ quick: process.argv.includes("--quick") });
  for (const line of lines) console.log(JSON.stringify(line));
  for (const line of lines) {
    console.log(
      `${line.path}: ${line.heidrun}/s vs ${line.baseline}/s = ${line.ratio}× (${line.goal}): ${line.pass ? "PASS" : "FAIL"}`,
    );
  }
  if (!lines.every((line) => line.pass)) process.exitCode = 1;
}
