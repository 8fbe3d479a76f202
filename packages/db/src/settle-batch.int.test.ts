import type { Usage } from "@heidrun/core";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeHold, captureHold } from "./preauths";
import { PriceCache } from "./price-cache";
import { setPrice } from "./prices";
import { recordSettlementFailure, settleBatch } from "./settle-batch";
import type { SettleItem, SettleOptions, UsageSettleItem } from "./settle-types";

const ctx = useTestContext();
let cache: PriceCache;
let options: SettleOptions;
let v1Id: bigint;

const MARCH = new Date("2026-03-01T10:15:00.000Z");

function usage(inputTokens: bigint, outputTokens: bigint): Usage {
  return { inputTokens, outputTokens, cachedInputTokens: 0n, cacheWriteTokens: 0n };
}

function item(requestId: string, accountId: string, extra: Partial<UsageSettleItem> = {}): UsageSettleItem {
  return {
    kind: "usage",
    requestId,
    accountId,
    providerId: "openai",
    model: "gpt-4o-mini",
    usage: usage(1000n, 500n),
    occurredAt: MARCH,
    actor: "test",
    ...extra,
  };
}

function settle(items: SettleItem[]) {
  return ctx().db.transaction((tx) => settleBatch(tx, items, options));
}

async function scalar(query: ReturnType<typeof sql>): Promise<unknown> {
  const result = await ctx().db.execute(query);
  return Object.values(result.rows[0] as Record<string, unknown>)[0];
}

beforeAll(async () => {
  const { db } = ctx();
  const base = { providerId: "openai", model: "gpt-4o-mini", currency: "USD" };
  const v1 = await setPrice(
    db,
    {
      ...base,
      inputMicrosPerMtok: 150_000n,
      outputMicrosPerMtok: 600_000n,
      effectiveFrom: new Date("2026-01-01Z"),
    },
    { requestId: "price-1", actor: "test" },
  );
  v1Id = v1.price.id;
  await setPrice(
    db,
    {
      ...base,
      inputMicrosPerMtok: 300_000n,
      outputMicrosPerMtok: 1_200_000n,
      effectiveFrom: new Date("2026-06-01Z"),
    },
    { requestId: "price-2", actor: "test" },
  );
  cache = new PriceCache({ db, channel: `${ctx().redisPrefix}:prices`, refreshIntervalMs: 60_000 });
  await cache.start();
  options = {
    prices: cache,
    commission: { defaultBps: 1500, minBps: 1000, maxBps: 1500, overrides: {} },
    roundingIncrementMicros: 1n,
  };
  await db.execute(sql`INSERT INTO accounts (account_id, balance_micros) VALUES ('acct-rich', 10000000)`);
});
afterAll(async () => {
  await cache.stop();
});

describe("settleBatch", () => {
  it("writes usage, settlements, balanced ledger entries, balances, rollups and audit records once", async () => {
    const items = [item("s-1", "acct-rich"), item("s-2", "acct-rich"), item("s-3", "acct-new")];
    const outcomes = await settle(items);
    // 1000 × 0.15 + 500 × 0.60 = 450 micros; fee 15 % = 67.5 → 68 (half to even); earnings 382.
    expect(outcomes.map((o) => o.status)).toEqual(["settled", "settled", "settled"]);
    expect(outcomes[0]).toMatchObject({
      totalCostMicros: 450n,
      companyFeeMicros: 68n,
      providerEarningsMicros: 382n,
      commissionRateBps: 1500,
      priceVersion: 1n,
    });
    const balances = await ctx().db.execute(
      sql`SELECT account_id, balance_micros FROM accounts WHERE account_id LIKE 'acct-%' ORDER BY 1`,
    );
    expect(balances.rows).toEqual([
      { account_id: "acct-new", balance_micros: -450n },
      { account_id: "acct-rich", balance_micros: 10_000_000n - 900n },
    ]);
    expect(await scalar(sql`SELECT sum(amount_micros)::bigint FROM ledger_entries`)).toBe(0n);
    expect(await scalar(sql`SELECT count(*) FROM ledger_entries`)).toBe(9n);
    const rollup = await ctx().db.execute(
      sql`SELECT to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS bucket, request_count, total_cost_micros
        FROM usage_rollups_hourly WHERE account_id = 'acct-rich'`,
    );
    expect(rollup.rows).toEqual([{ bucket: "2026-03-01 10:00", request_count: 2n, total_cost_micros: 900n }]);
    const audit = await ctx().db.execute(
      sql`SELECT event_type, count(*)::int AS n FROM audit_events WHERE request_id LIKE 's-%' GROUP BY 1 ORDER BY 1`,
    );
    expect(audit.rows).toEqual([
      { event_type: "settlement.settled", n: 3 },
      { event_type: "usage.recorded", n: 3 },
    ]);

    // The same batch again (a job that ran twice) changes nothing.
    expect((await settle(items)).map((o) => o.status)).toEqual([
      "already_settled",
      "already_settled",
      "already_settled",
    ]);
    expect(await scalar(sql`SELECT balance_micros FROM accounts WHERE account_id = 'acct-rich'`)).toBe(
      9_999_100n,
    );
    expect(await scalar(sql`SELECT count(*) FROM audit_events WHERE request_id LIKE 's-%'`)).toBe(6n);
  });

  it("answers a request_id repeated inside a batch once, with the usage the first occurrence carried", async () => {
    const outcomes = await settle([
      item("dup-1", "acct-dup"),
      item("dup-1", "acct-dup", { usage: usage(1n, 1n) }),
    ]);
    expect(outcomes).toEqual([outcomes[0], outcomes[0]]);
    expect(outcomes[0]).toMatchObject({ status: "settled", totalCostMicros: 450n });
    expect(await scalar(sql`SELECT balance_micros FROM accounts WHERE account_id = 'acct-dup'`)).toBe(-450n);
  });

  it("records a missing price as a FAILED row, never a zero charge, and settles it exactly once on a rerun", async () => {
    const missing = item("np-1", "acct-np", { providerId: "nobody", model: "m-1" });
    const [failed] = await settle([missing, item("np-2", "acct-np")]);
    expect(failed?.status).toBe("failed");
    const reason = (failed as { reason: string }).reason;
    expect(reason).toMatch(/nobody/);
    const row = await ctx().db.execute(
      sql`SELECT status, failure_reason, total_cost_micros, attempts FROM settlements WHERE request_id = 'np-1'`,
    );
    expect(row.rows).toEqual([
      { status: "failed", failure_reason: reason, total_cost_micros: 0n, attempts: 1 },
    ]);
    expect(await scalar(sql`SELECT count(*) FROM ledger_entries WHERE request_id = 'np-1'`)).toBe(0n);
    expect(await scalar(sql`SELECT balance_micros FROM accounts WHERE account_id = 'acct-np'`)).toBe(-450n);

    // Still no price: the row stays failed, its attempt is counted.
    expect((await settle([missing]))[0]).toEqual({ status: "failed", requestId: "np-1", reason });
    cache.add(
      (
        await setPrice(
          ctx().db,
          {
            providerId: "nobody",
            model: "*",
            inputMicrosPerMtok: 1_000_000n,
            outputMicrosPerMtok: 2_000_000n,
            effectiveFrom: new Date("2026-01-01Z"),
          },
          { requestId: "price-nobody", actor: "test" },
        )
      ).price,
    );
    // 1000 × 1 + 500 × 2 = 2000 micros; fee 300.
    expect((await settle([missing]))[0]).toMatchObject({
      status: "settled",
      totalCostMicros: 2000n,
      companyFeeMicros: 300n,
    });
    expect((await settle([missing]))[0]?.status).toBe("already_settled");
    const settled = await ctx().db.execute(
      sql`SELECT status, failure_reason, attempts FROM settlements WHERE request_id = 'np-1'`,
    );
    expect(settled.rows).toEqual([{ status: "settled", failure_reason: null, attempts: 3 }]);
    expect(await scalar(sql`SELECT count(*) FROM ledger_entries WHERE request_id = 'np-1'`)).toBe(3n);
    expect(await scalar(sql`SELECT balance_micros FROM accounts WHERE account_id = 'acct-np'`)).toBe(-2450n);
    expect(
      await scalar(
        sql`SELECT count(*) FROM audit_events WHERE request_id = 'np-1' AND event_type = 'usage.recorded'`,
      ),
    ).toBe(1n);
  });

  it("settles a capture under the capture's request_id with the version pinned at pre-authorization", async () => {
    const { db } = ctx();
    await db.execute(sql`INSERT INTO accounts (account_id, balance_micros) VALUES ('acct-cap', 1000000)`);
    const hold = await authorizeHold(db, {
      requestId: "pa-1",
      fingerprint: "fp-pa-1",
      accountId: "acct-cap",
      providerId: "openai",
      model: "gpt-4o-mini",
      estimatedCostMicros: 5000n,
      estimatedInputTokens: 10_000n,
      maxOutputTokens: 1000n,
      priceVersion: 1n,
      priceVersionId: v1Id,
      ttlSeconds: 600,
      actor: "test",
    });
    const preauthId = hold.preauth.preauthId;
    await captureHold(db, {
      requestId: "cap-1",
      preauthId,
      usage: usage(2000n, 1000n),
      capturedCostMicros: 900n,
      actor: "test",
    });
    expect(await scalar(sql`SELECT held_micros FROM accounts WHERE account_id = 'acct-cap'`)).toBe(900n);
    // Captured now, when version 2 is in effect; the pinned version 1 prices it: 2000 × 0.15 + 1000 × 0.6 = 900.
    const [outcome] = await settle([{ kind: "capture", requestId: "cap-1", preauthId, actor: "test" }]);
    expect(outcome).toMatchObject({ status: "settled", totalCostMicros: 900n, priceVersion: 1n });
    const row = await db.execute(
      sql`SELECT account_id, preauth_id, price_version, input_tokens FROM settlements WHERE request_id = 'cap-1'`,
    );
    expect(row.rows).toEqual([
      { account_id: "acct-cap", preauth_id: preauthId, price_version: 1n, input_tokens: 2000n },
    ]);
    const account = await db.execute(
      sql`SELECT balance_micros, held_micros FROM accounts WHERE account_id = 'acct-cap'`,
    );
    // The capture kept its cost (900) held; the settlement charged it and released that hold together.
    expect(account.rows).toEqual([{ balance_micros: 1_000_000n - 900n, held_micros: 0n }]);

    const [unknown, wrongRequest] = await settle([
      { kind: "capture", requestId: "cap-x", preauthId: "pa-missing", actor: "test" },
      { kind: "capture", requestId: "cap-y", preauthId, actor: "test" },
    ]);
    expect(unknown).toEqual({
      status: "rejected",
      requestId: "cap-x",
      reason: "pre-auth pa-missing not found",
    });
    expect(wrongRequest).toEqual({
      status: "rejected",
      requestId: "cap-y",
      reason: `pre-auth ${preauthId} (status captured) has no capture under request cap-y`,
    });
  });

  it("records an isolated job's failure as a FAILED row with its reason, and leaves a settled one alone", async () => {
    const outcome = await ctx().db.transaction((tx) =>
      recordSettlementFailure(tx, item("iso-1", "acct-iso"), "settlement failed: boom"),
    );
    expect(outcome).toEqual({ status: "failed", requestId: "iso-1", reason: "settlement failed: boom" });
    expect(await scalar(sql`SELECT failure_reason FROM settlements WHERE request_id = 'iso-1'`)).toBe(
      "settlement failed: boom",
    );
    // The rerun finds no usage row yet (the failure came before it), inserts it and settles.
    expect((await settle([item("iso-1", "acct-iso")]))[0]?.status).toBe("settled");
    const again = await ctx().db.transaction((tx) =>
      recordSettlementFailure(tx, item("iso-1", "acct-iso"), "late"),
    );
    expect(again).toEqual({ status: "already_settled", requestId: "iso-1" });
  });
});

describe("capture holds", () => {
  it("stay held until the capture's settlement charges them, and are released once, with the charge", async () => {
    const { db } = ctx();
    await db.execute(sql`INSERT INTO accounts (account_id, balance_micros) VALUES ('acct-hold', 100000)`);
    const authorize = async (requestId: string, priceVersion: bigint, priceVersionId: bigint | null) =>
      (
        await authorizeHold(db, {
          requestId,
          fingerprint: `fp-${requestId}`,
          accountId: "acct-hold",
          providerId: "openai",
          model: "gpt-4o-mini",
          estimatedCostMicros: 5000n,
          estimatedInputTokens: 10_000n,
          maxOutputTokens: 1000n,
          priceVersion,
          priceVersionId,
          ttlSeconds: 600,
          actor: "test",
        })
      ).preauth.preauthId;
    const balance = async () =>
      (await db.execute(sql`SELECT balance_micros, held_micros FROM accounts WHERE account_id = 'acct-hold'`))
        .rows[0];
    const preauthHeld = (preauthId: string) =>
      scalar(sql`SELECT held_micros FROM preauths WHERE preauth_id = ${preauthId}`);

    const priced = await authorize("hold-a", 1n, v1Id);
    // Pinned to version 3, which the catalog does not have yet: its settlement fails until it does.
    const unpriced = await authorize("hold-b", 3n, null);
    await authorize("hold-open", 1n, v1Id);
    const capture = (requestId: string, preauthId: string, used: Usage, cost: bigint) =>
      captureHold(db, { requestId, preauthId, usage: used, capturedCostMicros: cost, actor: "test" });
    await capture("hold-a-cap", priced, usage(2000n, 1000n), 900n);
    await capture("hold-b-cap", unpriced, usage(1000n, 500n), 450n);
    expect(await balance()).toEqual({ balance_micros: 100_000n, held_micros: 900n + 450n + 5000n });

    const captureItem = (requestId: string, preauthId: string): SettleItem => ({
      kind: "capture",
      requestId,
      preauthId,
      actor: "test",
    });
    const [settledA, failedB] = await settle([
      captureItem("hold-a-cap", priced),
      captureItem("hold-b-cap", unpriced),
    ]);
    expect(settledA).toMatchObject({ status: "settled", totalCostMicros: 900n });
    expect(failedB).toMatchObject({ status: "failed" });
    expect(await balance()).toEqual({ balance_micros: 100_000n - 900n, held_micros: 450n + 5000n });
    expect(await preauthHeld(priced)).toBe(0n);
    expect(await preauthHeld(unpriced)).toBe(450n);

    // A second run of the settled job changes nothing.
    expect((await settle([captureItem("hold-a-cap", priced)]))[0]?.status).toBe("already_settled");
    expect(await balance()).toEqual({ balance_micros: 100_000n - 900n, held_micros: 450n + 5000n });

    // Version 3 arrives (effective far ahead, so nothing else changes); the rerun settles and releases.
    await setPrice(
      db,
      {
        providerId: "openai",
        model: "gpt-4o-mini",
        currency: "USD",
        inputMicrosPerMtok: 150_000n,
        outputMicrosPerMtok: 600_000n,
        effectiveFrom: new Date("2099-01-01Z"),
      },
      { requestId: "price-3", actor: "test" },
    );
    await cache.refresh();
    const [rerun] = await settle([captureItem("hold-b-cap", unpriced)]);
    expect(rerun).toMatchObject({ status: "settled", totalCostMicros: 450n, priceVersion: 3n });
    expect(await balance()).toEqual({ balance_micros: 100_000n - 1350n, held_micros: 5000n });
    expect(await preauthHeld(unpriced)).toBe(0n);
  });
});
