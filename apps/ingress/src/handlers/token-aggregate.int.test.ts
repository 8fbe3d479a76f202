import { configStoreFor } from "@heidrun/config";
import { PriceCache, setPrice, settleBatch, type UsageSettleItem } from "@heidrun/db";
import { createRegistry, silentLogger } from "@heidrun/observability";
import { type AggregateTokensRequest, Granularity, GroupBy, type TokenAggregate } from "@heidrun/proto";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext, TokenHandlers } from "../context";
import { requestValidators } from "../validation";
import { createTokenHandlers } from "./token";

const ctx = useTestContext();
const call: CallContext = {
  principal: { keyId: "ygg00001", scope: "yggdrasil" },
  log: silentLogger(),
  signal: new AbortController().signal,
};
let handlers: TokenHandlers;
let cache: PriceCache;

/** Settled rows as the settlements table holds them: the source of truth to compare against. */
interface SettledRow {
  providerId: string;
  accountId: string;
  model: string;
  occurredAt: Date;
  inputTokens: bigint;
  outputTokens: bigint;
  cachedInputTokens: bigint;
  totalCostMicros: bigint;
}
let settled: SettledRow[] = [];

/** A small deterministic generator (LCG), so a failure reproduces. */
function rng(seed: number) {
  let state = BigInt(seed);
  return (bound: number): number => {
    state = (state * 6_364_136_223_846_793_005n + 1_442_695_040_888_963_407n) & 0xffff_ffff_ffff_ffffn;
    return Number((state >> 33n) % BigInt(bound));
  };
}

const START = Date.parse("2026-02-27T00:00:00.000Z");
const SPAN_MS = 5 * 86_400_000; // crosses a month boundary
const pick = <T>(next: (n: number) => number, list: readonly T[]): T => list[next(list.length)]!;

beforeAll(async () => {
  const { db } = ctx();
  for (const [providerId, input, output] of [
    ["p1", 150_000n, 600_000n],
    ["p2", 2_500_000n, 10_000_000n],
  ] as const) {
    await setPrice(
      db,
      {
        providerId,
        model: "*",
        inputMicrosPerMtok: input,
        outputMicrosPerMtok: output,
        effectiveFrom: new Date(0),
      },
      { requestId: `price-${providerId}`, actor: "test" },
    );
  }
  cache = new PriceCache({ db, channel: `${ctx().redisPrefix}:prices`, refreshIntervalMs: 60_000 });
  await cache.start();
  const next = rng(7);
  const items: UsageSettleItem[] = Array.from({ length: 600 }, (_, i) => {
    const input = BigInt(next(5000));
    return {
      kind: "usage",
      requestId: `agg-${i}`,
      accountId: pick(next, ["a1", "a2", "a3"]),
      providerId: pick(next, ["p1", "p2"]),
      model: pick(next, ["m1", "m2", "m3"]),
      usage: {
        inputTokens: input,
        outputTokens: BigInt(next(2000)),
        cachedInputTokens: input / 3n,
        cacheWriteTokens: 0n,
      },
      occurredAt: new Date(START + next(SPAN_MS)),
      actor: "test",
    };
  });
  const options = {
    prices: cache,
    commission: { defaultBps: 1500, minBps: 1000, maxBps: 1500, overrides: {} },
    roundingIncrementMicros: 1n,
  };
  for (let i = 0; i < items.length; i += 200) {
    await db.transaction((tx) => settleBatch(tx, items.slice(i, i + 200), options));
  }
  const rows = await db.execute<Record<string, string>>(sql`
    SELECT provider_id, account_id, model, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
      input_tokens::text, output_tokens::text, cached_input_tokens::text, total_cost_micros::text
    FROM settlements WHERE status = 'settled'`);
  settled = rows.rows.map((r) => ({
    providerId: r.provider_id!,
    accountId: r.account_id!,
    model: r.model!,
    occurredAt: new Date(r.at!),
    inputTokens: BigInt(r.input_tokens!),
    outputTokens: BigInt(r.output_tokens!),
    cachedInputTokens: BigInt(r.cached_input_tokens!),
    totalCostMicros: BigInt(r.total_cost_micros!),
  }));
  const config = configStoreFor(ctx(), {});
  handlers = createTokenHandlers({
    config,
    log: silentLogger(),
    registry: createRegistry(),
    pool: ctx().pool,
    db,
    redis: ctx().redis,
  } as never);
});
afterAll(async () => {
  await cache.stop();
});

function bucketOf(at: Date, granularity: Granularity): number {
  const d = new Date(at);
  if (granularity === Granularity.GRANULARITY_HOUR)
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours());
  if (granularity === Granularity.GRANULARITY_DAY)
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The answer computed directly from the settlement rows. */
function expected(request: AggregateTokensRequest): TokenAggregate[] {
  const rows = settled.filter(
    (r) =>
      (!request.providerId || r.providerId === request.providerId) &&
      (!request.accountId || r.accountId === request.accountId) &&
      (!request.model || r.model === request.model) &&
      (!request.from || r.occurredAt >= request.from) &&
      (!request.to || r.occurredAt < request.to),
  );
  if (rows.length === 0) return [];
  const earliest = new Date(Math.min(...rows.map((r) => r.occurredAt.getTime())));
  const groups = new Map<string, TokenAggregate>();
  for (const r of rows) {
    const bucketStart =
      request.granularity === Granularity.GRANULARITY_UNSPECIFIED
        ? (request.from ?? earliest)
        : new Date(bucketOf(r.occurredAt, request.granularity));
    const key = {
      providerId: request.groupBy.includes(GroupBy.GROUP_BY_PROVIDER) ? r.providerId : "",
      accountId: request.groupBy.includes(GroupBy.GROUP_BY_ACCOUNT) ? r.accountId : "",
      model: request.groupBy.includes(GroupBy.GROUP_BY_MODEL) ? r.model : "",
    };
    const id = `${bucketStart.toISOString()}|${key.providerId}|${key.accountId}|${key.model}`;
    const group = groups.get(id) ?? {
      bucketStart,
      ...key,
      requestCount: 0n,
      inputTokens: 0n,
      outputTokens: 0n,
      cachedInputTokens: 0n,
      totalTokens: 0n,
      avgTokensPerRequest: 0n,
      totalCostMicros: 0n,
    };
    group.requestCount += 1n;
    group.inputTokens += r.inputTokens;
    group.outputTokens += r.outputTokens;
    group.cachedInputTokens += r.cachedInputTokens;
    group.totalTokens += r.inputTokens + r.outputTokens;
    group.totalCostMicros += r.totalCostMicros;
    group.avgTokensPerRequest = group.totalTokens / group.requestCount;
    groups.set(id, group);
  }
  const order = (g: TokenAggregate) =>
    `${g.bucketStart!.toISOString()}|${g.providerId}|${g.accountId}|${g.model}`;
  return [...groups.values()].sort((a, b) => (order(a) < order(b) ? -1 : 1));
}

async function aggregate(request: AggregateTokensRequest) {
  requestValidators.token.aggregateTokens(request, { nowMs: Date.now(), maxTtlSeconds: 86_400 });
  return (await handlers.aggregateTokens(request, call)).rows;
}

describe("AggregateTokens", () => {
  it("sums everything into one bucket that starts at the earliest usage", async () => {
    const request: AggregateTokensRequest = {
      providerId: "",
      accountId: "",
      model: "",
      granularity: Granularity.GRANULARITY_UNSPECIFIED,
      groupBy: [],
    };
    const rows = await aggregate(request);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.requestCount).toBe(600n);
    expect(rows).toEqual(expected(request));
  });

  it("matches sums computed from the settlement rows for random filters, ranges, buckets and groupings", async () => {
    const next = rng(42);
    for (let trial = 0; trial < 40; trial++) {
      const from = next(4) === 0 ? undefined : new Date(START - 3_600_000 + next(SPAN_MS));
      const to = next(4) === 0 ? undefined : new Date((from?.getTime() ?? START) + next(SPAN_MS));
      const request: AggregateTokensRequest = {
        providerId: pick(next, ["", "", "p1", "p2"]),
        accountId: pick(next, ["", "", "a1", "a3", "nobody"]),
        model: pick(next, ["", "", "m2"]),
        from,
        to,
        granularity: pick(next, [
          Granularity.GRANULARITY_UNSPECIFIED,
          Granularity.GRANULARITY_HOUR,
          Granularity.GRANULARITY_DAY,
          Granularity.GRANULARITY_MONTH,
        ]),
        groupBy: [GroupBy.GROUP_BY_PROVIDER, GroupBy.GROUP_BY_ACCOUNT, GroupBy.GROUP_BY_MODEL].filter(
          () => next(2) === 0,
        ),
      };
      expect(
        await aggregate(request),
        JSON.stringify({ trial, ...request, groupBy: request.groupBy }),
      ).toEqual(expected(request));
    }
  });
});
