import { setTimeout as sleep } from "node:timers/promises";
import { type AuthorizeHoldInput, authorizeHold, creditAccount, getBalance, getPreauth } from "@heidrun/db";
import { silentLogger } from "@heidrun/observability";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { startExpirySweeper, sweepExpired } from "./expiry-sweeper";

const ctx = useTestContext();

function hold(requestId: string, accountId: string, ttlSeconds: number): AuthorizeHoldInput {
  return {
    requestId,
    fingerprint: requestId,
    accountId,
    providerId: "openai",
    model: "gpt-4o-mini",
    estimatedCostMicros: 10n,
    estimatedInputTokens: 1n,
    maxOutputTokens: 1n,
    priceVersion: 1n,
    priceVersionId: null,
    ttlSeconds,
    actor: "test",
  };
}

async function fund(accountId: string): Promise<void> {
  await creditAccount(ctx().db, {
    requestId: `fund-${accountId}`,
    accountId,
    amountMicros: 1_000_000n,
    reference: "",
    actor: "t",
  });
}

/** Holds that fell due a second ago (expires_at moved back, as if their TTL had run out). */
async function dueHolds(prefix: string, accounts: readonly string[], count: number): Promise<string[]> {
  const holds = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      authorizeHold(ctx().db, hold(`${prefix}-${i}`, accounts[i % accounts.length] ?? "", 600)),
    ),
  );
  const ids = holds.map((h) => h.preauth.preauthId);
  await ctx().db.execute(sql`
    UPDATE preauths SET expires_at = now() - interval '1 second' WHERE preauth_id = ANY(${sql.param(ids)}::text[])`);
  return ids;
}

async function expiredEvents(accountPrefix: string): Promise<bigint> {
  const result = await ctx().db.execute<{ n: bigint }>(sql`
    SELECT count(*)::bigint AS n FROM audit_events WHERE event_type = 'preauth.expired' AND account_id LIKE ${`${accountPrefix}%`}`);
  return result.rows[0]?.n ?? -1n;
}

describe("sweepExpired", () => {
  it("expires due holds in batches of at most `limit` and leaves the rest pending", async () => {
    await fund("batch");
    await dueHolds("batch", ["batch"], 25);
    const { preauth: notDue } = await authorizeHold(ctx().db, hold("batch-later", "batch", 600));
    const passes = [];
    for (let i = 0; i < 4; i++) passes.push(await sweepExpired(ctx().db, { limit: 10 }));
    expect(passes).toEqual([10, 10, 5, 0]);
    expect(await getBalance(ctx().db, "batch")).toMatchObject({ heldMicros: 10n });
    expect((await getPreauth(ctx().db, notDue.preauthId))?.status).toBe("pending");
    expect(await expiredEvents("batch")).toBe(25n);
  });
});

describe("startExpirySweeper", () => {
  it("expires a pre-auth by itself within 5 s of expires_at and releases its hold", async () => {
    await fund("ttl");
    const sweeper = startExpirySweeper({ pool: ctx().pool, log: silentLogger(), intervalMs: 200 });
    try {
      const { preauth } = await authorizeHold(ctx().db, hold("ttl-1", "ttl", 1));
      expect((await getBalance(ctx().db, "ttl")).heldMicros).toBe(10n);
      let status = preauth.status;
      for (let i = 0; i < 100 && status === "pending"; i++) {
        await sleep(100);
        status = (await getPreauth(ctx().db, preauth.preauthId))?.status ?? "pending";
      }
      expect(status).toBe("expired");
      const lag = await ctx().db.execute<{ ms: bigint }>(sql`
        SELECT (extract(epoch FROM expired_at - expires_at) * 1000)::bigint AS ms FROM preauths
        WHERE preauth_id = ${preauth.preauthId}`);
      expect(lag.rows[0]?.ms).toBeGreaterThanOrEqual(0n);
      expect(lag.rows[0]?.ms).toBeLessThan(5_000n);
      expect(await getBalance(ctx().db, "ttl")).toMatchObject({
        heldMicros: 0n,
        availableMicros: 1_000_000n,
      });
    } finally {
      await sweeper.stop();
    }
  });

  it("releases every hold exactly once with several sweepers running at once", async () => {
    const accounts = ["many-a", "many-b", "many-c", "many-d"];
    for (const account of accounts) await fund(account);
    await dueHolds("many", accounts, 300);
    let expired = 0;
    const sweepers = Array.from({ length: 3 }, () =>
      startExpirySweeper({
        pool: ctx().pool,
        log: silentLogger(),
        intervalMs: 50,
        limit: 20,
        onSweep: (n) => {
          expired += n;
        },
      }),
    );
    try {
      for (let i = 0; i < 200 && expired < 300; i++) await sleep(50);
    } finally {
      await Promise.all(sweepers.map((s) => s.stop()));
    }
    expect(expired).toBe(300);
    expect(await expiredEvents("many-")).toBe(300n);
    for (const account of accounts) expect((await getBalance(ctx().db, account)).heldMicros).toBe(0n);
  });
});
