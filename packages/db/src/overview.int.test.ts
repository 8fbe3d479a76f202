import { createRegistry } from "@heidrun/observability";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { failedSettlementGroups, openHolds, settledTodayByProvider } from "./overview";
import { registerLedgerGauges } from "./overview-metrics";
import { countFailedSettlements, databaseNow } from "./rerun-select";

const ctx = useTestContext();

async function failed(requestId: string, providerId: string, reason: string): Promise<void> {
  await ctx().db.execute(sql`
    INSERT INTO settlements (request_id, account_id, provider_id, model, status, failure_reason, input_tokens,
      output_tokens, cached_input_tokens, cache_write_tokens, occurred_at, settled_at)
    VALUES (${requestId}, 'a', ${providerId}, 'm', 'failed', ${reason}, 1, 1, 0, 0, now(), now())`);
}

async function settled(requestId: string, providerId: string, total: bigint, fee: bigint, dayOffset = 0) {
  await ctx().db.execute(sql`
    INSERT INTO settlements (request_id, account_id, provider_id, model, status, input_tokens, output_tokens,
      cached_input_tokens, cache_write_tokens, total_cost_micros, company_fee_micros, provider_earnings_micros,
      occurred_at, settled_at)
    VALUES (${requestId}, 'a', ${providerId}, 'm', 'settled', 1, 1, 0, 0, ${total}, ${fee}, ${total - fee}, now(),
      now() + make_interval(days => ${dayOffset}))`);
}

beforeAll(async () => {
  await failed(
    "f-1",
    "p1",
    'no price for provider p1 and model m (nor a "*" default) at 2026-03-01T10:00:00.000Z',
  );
  await failed(
    "f-2",
    "p2",
    'no price for provider p1 and model m (nor a "*" default) at 2026-03-02T11:30:00.123Z',
  );
  await failed("f-3", "p1", "pre-auth pa_123 (status captured) has no capture under request cap-9");
  await failed("f-4", "p1", "pre-auth pa_456 (status captured) has no capture under request cap-8");
  await failed("f-5", "p1", "cost beyond int64");
  await settled("s-1", "p1", 9_223_372_036_854_775_000n, 1_000n);
  await settled("s-2", "p1", 700n, 105n);
  await settled("s-3", "p2", 1n, 0n);
  await settled("s-old", "p2", 5n, 1n, -2);
  await ctx().db.execute(sql`
    INSERT INTO preauths (preauth_id, request_id, fingerprint, account_id, provider_id, model, status, held_micros,
      estimated_cost_micros, estimated_input_tokens, max_output_tokens, available_micros, price_version, actor,
      expires_at)
    VALUES ('pa-1', 'r-1', 'f', 'a', 'p1', 'm', 'pending', 400, 400, 1, 1, 0, 1, 't', '2099-01-01T00:00:00Z'),
           ('pa-2', 'r-2', 'f', 'a', 'p1', 'm', 'pending', 600, 600, 1, 1, 0, 1, 't', '2098-01-01T00:00:00Z'),
           ('pa-3', 'r-3', 'f', 'a', 'p1', 'm', 'declined', 0, 600, 1, 1, 0, 1, 't', '2098-01-01T00:00:00Z')`);
  // Two captures: one still holding its cost (its settlement has not charged it), one settled (holding 0).
  await ctx().db.execute(sql`
    INSERT INTO preauths (preauth_id, request_id, fingerprint, account_id, provider_id, model, status, held_micros,
      estimated_cost_micros, estimated_input_tokens, max_output_tokens, available_micros, price_version, actor,
      expires_at, capture_request_id, captured_cost_micros, captured_at)
    VALUES ('pa-4', 'r-4', 'f', 'a', 'p1', 'm', 'captured', 250, 600, 1, 1, 0, 1, 't', '2098-01-01T00:00:00Z',
              'c-4', 250, '2026-11-20T10:00:00Z'),
           ('pa-5', 'r-5', 'f', 'a', 'p1', 'm', 'captured', 0, 600, 1, 1, 0, 1, 't', '2098-01-01T00:00:00Z',
              'c-5', 300, '2026-11-19T10:00:00Z')`);
});

describe("overview queries", () => {
  it("groups failures by reason without their timestamps and ids, largest first", async () => {
    const groups = await failedSettlementGroups(ctx().db);
    expect(groups.map((g) => [g.reason, g.count, g.providers])).toEqual([
      ['no price for provider p1 and model m (nor a "*" default) at …', 2n, ["p1", "p2"]],
      ["pre-auth … (status captured) has no capture under request …", 2n, ["p1"]],
      ["cost beyond int64", 1n, ["p1"]],
    ]);
    const now = await databaseNow(ctx().db);
    const before = new Date(now.getTime() + 1000);
    expect(await countFailedSettlements(ctx().db, { reason: groups[0]!.reason }, before)).toBe(2n);
    expect(await countFailedSettlements(ctx().db, { reason: groups[1]!.reason }, before)).toBe(2n);
  });

  it("sums today's settlements per provider exactly, beyond 2^53", async () => {
    const today = await settledTodayByProvider(ctx().db);
    expect(today.providers).toEqual([
      {
        providerId: "p1",
        count: 2n,
        totalCostMicros: 9_223_372_036_854_775_700n,
        companyFeeMicros: 1_105n,
        providerEarningsMicros: 9_223_372_036_854_774_595n,
      },
      { providerId: "p2", count: 1n, totalCostMicros: 1n, companyFeeMicros: 0n, providerEarningsMicros: 1n },
    ]);
    expect(today.dayStart.toISOString()).toMatch(/T00:00:00\.000Z$/);
  });

  it("counts open holds and what they hold", async () => {
    expect(await openHolds(ctx().db)).toEqual({
      count: 2n,
      heldMicros: 1000n,
      nextExpiry: new Date("2098-01-01T00:00:00.000Z"),
      awaitingSettlement: {
        count: 1n,
        heldMicros: 250n,
        oldestCapturedAt: new Date("2026-11-20T10:00:00.000Z"),
      },
    });
  });

  it("exposes the ledger gauges on a registry", async () => {
    const registry = createRegistry();
    registerLedgerGauges(registry, ctx().db);
    const text = await registry.metrics();
    expect(text).toContain("heidrun_database_up 1\n");
    expect(text).toContain("heidrun_open_holds 2\n");
    expect(text).toContain("heidrun_captures_awaiting_settlement 1\n");
    // 2026-11-20T10:00:00Z
    expect(text).toContain("heidrun_oldest_capture_awaiting_settlement_timestamp_seconds 1795168800\n");
    expect(text).toContain("heidrun_failed_settlements 5\n");
    expect(text).toContain('heidrun_preauths_recent{status="pending"} 2\n');
    expect(text).toContain('heidrun_preauths_recent{status="declined"} 1\n');
    expect(text).toMatch(/heidrun_audit_head_seq \d+\n/);
  });
});
