import { configStoreFor } from "@heidrun/config";
import { DomainError } from "@heidrun/core";
import { PriceCache, type SettleItem, setPrice, settleBatch } from "@heidrun/db";
import { createRegistry, silentLogger } from "@heidrun/observability";
import { type GetSettlementHistoryRequest, type Settlement, SettlementStatus } from "@heidrun/proto";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext, SettlementHandlers } from "../context";
import { requestValidators } from "../validation";
import { createSettlementHandlers } from "./settlement";

const ctx = useTestContext();
const call: CallContext = {
  principal: { keyId: "ygg00001", scope: "yggdrasil" },
  log: silentLogger(),
  signal: new AbortController().signal,
};
let handlers: SettlementHandlers;
let cache: PriceCache;
const T0 = Date.parse("2026-03-01T00:00:00.000Z");

function usageItem(requestId: string, minute: number, extra: Partial<SettleItem> = {}): SettleItem {
  return {
    kind: "usage",
    requestId,
    accountId: minute % 2 ? "odd" : "even",
    providerId: "p1",
    model: "m1",
    usage: { inputTokens: 1000n, outputTokens: 100n, cachedInputTokens: 0n, cacheWriteTokens: 0n },
    occurredAt: new Date(T0 + minute * 60_000),
    actor: "test",
    ...extra,
  } as SettleItem;
}

async function settle(items: SettleItem[]) {
  const options = {
    prices: cache,
    commission: { defaultBps: 1500, minBps: 1000, maxBps: 1500, overrides: {} },
    roundingIncrementMicros: 1n,
  };
  return ctx().db.transaction((tx) => settleBatch(tx, items, options));
}

beforeAll(async () => {
  const { db } = ctx();
  await setPrice(
    db,
    {
      providerId: "p1",
      model: "*",
      inputMicrosPerMtok: 1_000_000n,
      outputMicrosPerMtok: 2_000_000n,
      effectiveFrom: new Date(0),
    },
    { requestId: "price-p1", actor: "test" },
  );
  cache = new PriceCache({ db, channel: `${ctx().redisPrefix}:prices`, refreshIntervalMs: 60_000 });
  await cache.start();
  // 30 usages over 10 minutes: three share each minute, so ties are ordered by request_id.
  await settle(Array.from({ length: 30 }, (_, i) => usageItem(`h-${String(i).padStart(2, "0")}`, i % 10)));
  await settle([usageItem("h-failed", 4, { providerId: "nobody" } as Partial<SettleItem>)]);
  const config = configStoreFor(ctx(), { commission: { minBps: 500, overrides: { cheap: 1000 } } });
  handlers = createSettlementHandlers({
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

function historyRequest(overrides: Partial<GetSettlementHistoryRequest> = {}): GetSettlementHistoryRequest {
  return { providerId: "", accountId: "", status: 0, pageSize: 0, pageToken: "", ...overrides };
}

async function history(request: GetSettlementHistoryRequest) {
  requestValidators.settlement.getSettlementHistory(request, { nowMs: Date.now(), maxTtlSeconds: 86_400 });
  return handlers.getSettlementHistory(request, call);
}

async function allPages(request: GetSettlementHistoryRequest, between?: (page: number) => Promise<void>) {
  const seen: Settlement[] = [];
  let pageToken = "";
  for (let page = 0; page < 100; page++) {
    const response = await history({ ...request, pageToken });
    seen.push(...response.settlements);
    if (!response.nextPageToken) return seen;
    pageToken = response.nextPageToken;
    await between?.(page);
  }
  throw new Error("too many pages");
}

const key = (s: Settlement) => `${s.occurredAt!.toISOString()}|${s.requestId}`;

describe("CalculateSettlement", () => {
  it("splits with the provider's rate: fee rounds half to even, earnings take the rest", async () => {
    const calc = (totalCostMicros: bigint, providerId: string) =>
      handlers.calculateSettlement({ requestId: "c-1", totalCostMicros, providerId }, call);
    expect(await calc(1000n, "p1")).toEqual({
      requestId: "c-1",
      totalCostMicros: 1000n,
      providerEarningsMicros: 850n,
      companyFeeMicros: 150n,
      commissionRateBps: 1500,
    });
    expect((await calc(1000n, "cheap")).companyFeeMicros).toBe(100n);
    // 10 × 15 % = 1.5 → 2; 30 × 15 % = 4.5 → 4.
    expect((await calc(10n, "p1")).companyFeeMicros).toBe(2n);
    expect((await calc(30n, "p1")).companyFeeMicros).toBe(4n);
  });
});

describe("GetSettlementHistory", () => {
  it("pages newest first, ties by request_id descending, every row once", async () => {
    const rows = await allPages(historyRequest({ pageSize: 4 }));
    expect(rows).toHaveLength(31);
    const keys = rows.map(key);
    expect(keys).toEqual([...keys].sort().reverse());
    expect(rows[0]).toMatchObject({ requestId: "h-29", occurredAt: new Date(T0 + 9 * 60_000) });
    expect(rows[1]?.requestId).toBe("h-19");
    const settled = rows.find((s) => s.requestId === "h-00")!;
    // 1000 × 1 + 100 × 2 = 1200 micros.
    expect(settled).toMatchObject({
      status: SettlementStatus.SETTLEMENT_STATUS_SETTLED,
      totalCostMicros: 1200n,
      companyFeeMicros: 180n,
      providerEarningsMicros: 1020n,
      commissionRateBps: 1500,
      priceVersion: 1n,
      usage: { inputTokens: 1000n, outputTokens: 100n, cachedInputTokens: 0n, cacheWriteTokens: 0n },
    });
  });

  it("keeps pages stable while rows are inserted before and after the cursor", async () => {
    const before = (await allPages(historyRequest({ pageSize: 5 }))).map(key);
    let added = 0;
    const during = await allPages(historyRequest({ pageSize: 5 }), async (page) => {
      if (page > 2) return;
      // One newer than everything (never seen by this walk) and one tie inside the already-read range.
      await settle([usageItem(`new-${page}`, 20), usageItem(`h-09-${page}`, 9)]);
      added += 2;
    });
    expect(added).toBe(6);
    const keys = during.map(key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.filter((k) => before.includes(k))).toEqual(before);
  });

  it("filters by provider, account, range and status; a failed row's settled_at is its last failure", async () => {
    const failed = await history(historyRequest({ status: SettlementStatus.SETTLEMENT_STATUS_FAILED }));
    expect(failed.settlements.map((s) => s.requestId)).toEqual(["h-failed"]);
    expect(failed.settlements[0]!.failureReason).toMatch(/nobody/);
    const failedAt = await ctx().db.execute<{ at: string }>(
      sql`SELECT to_char(settled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at FROM settlements WHERE request_id = 'h-failed'`,
    );
    expect(failed.settlements[0]!.settledAt).toEqual(new Date(failedAt.rows[0]!.at));
    const ranged = await allPages(
      historyRequest({
        accountId: "odd",
        providerId: "p1",
        from: new Date(T0 + 3 * 60_000),
        to: new Date(T0 + 7 * 60_000),
        status: SettlementStatus.SETTLEMENT_STATUS_SETTLED,
        pageSize: 2,
      }),
    );
    expect(ranged.map((s) => s.requestId)).toEqual(["h-25", "h-15", "h-05", "h-23", "h-13", "h-03"]);
  });

  it("defaults to 100 rows a page and refuses a token it did not issue", async () => {
    for (let i = 0; i < 80; i += 40) {
      await settle(Array.from({ length: 40 }, (_, j) => usageItem(`bulk-${i + j}`, 30 + i + j)));
    }
    const first = await history(historyRequest());
    expect(first.settlements).toHaveLength(100);
    expect(first.nextPageToken).not.toBe("");
    const error = await history(historyRequest({ pageToken: "not-a-token" })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).field).toBe("page_token");
  });
});
