import { DomainError, type Usage } from "@heidrun/core";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { creditAccount, getBalance } from "./accounts";
import {
  type AuthorizeHoldInput,
  authorizeHold,
  cancelHold,
  captureHold,
  expireDuePreauths,
  getPreauth,
  hashedFingerprint,
} from "./preauths";

const ctx = useTestContext();

const USAGE: Usage = { inputTokens: 10n, outputTokens: 5n, cachedInputTokens: 0n, cacheWriteTokens: 0n };

function holdInput(
  requestId: string,
  accountId: string,
  estimate: bigint,
  ttlSeconds = 600,
): AuthorizeHoldInput {
  return {
    requestId,
    fingerprint: hashedFingerprint({ requestId, accountId, estimate }),
    accountId,
    providerId: "openai",
    model: "gpt-4o-mini",
    estimatedCostMicros: estimate,
    estimatedInputTokens: 100n,
    maxOutputTokens: 50n,
    priceVersion: 1n,
    priceVersionId: null,
    ttlSeconds,
    actor: "test",
  };
}

async function fund(accountId: string, amount: bigint): Promise<void> {
  await creditAccount(ctx().db, {
    requestId: `fund-${accountId}`,
    accountId,
    amountMicros: amount,
    reference: "",
    actor: "t",
  });
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error.code;
}

/** Moves expires_at into the past, as if the TTL had run out (the database clock decides expiry). */
async function backdate(preauthIds: readonly string[]): Promise<void> {
  await ctx().db.execute(sql`
    UPDATE preauths SET expires_at = now() - interval '1 second' WHERE preauth_id = ANY(${sql.param([...preauthIds])}::text[])`);
}

/** Runs the tasks with at most `width` in flight (the test pool has 10 connections), in order of the list. */
async function inFlight<T>(tasks: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: width }, lane));
  return results;
}

/** What the accounts' pre-auths hold: estimates while pending, captured costs until they are settled. */
async function preauthsHeld(accountIds: readonly string[]): Promise<bigint> {
  const result = await ctx().db.execute<{ held: bigint }>(sql`
    SELECT coalesce(sum(held_micros), 0)::bigint AS held FROM preauths
    WHERE account_id = ANY(${sql.param([...accountIds])}::text[])`);
  return result.rows[0]?.held ?? -1n;
}

describe("authorizeHold", () => {
  it("grants exactly as many concurrent holds as the funds cover", async () => {
    const { db } = ctx();
    await fund("race-acct", 100n * 1_000n);
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, i) => authorizeHold(db, holdInput(`race-${i}`, "race-acct", 1_000n))),
    );
    const authorized = outcomes.filter((o) => o.preauth.status === "pending");
    const declined = outcomes.filter((o) => o.preauth.status === "declined");
    expect(authorized).toHaveLength(100);
    expect(declined).toHaveLength(100);
    expect(declined.every((o) => o.preauth.declineReason === "insufficient_funds")).toBe(true);
    expect(declined.every((o) => o.preauth.availableMicros < 1_000n)).toBe(true);
    const balance = await getBalance(db, "race-acct");
    expect(balance.heldMicros).toBe(100_000n);
    expect(balance.availableMicros).toBe(0n);
    const audit = await db.execute<{ event_type: string; n: bigint }>(sql`
      SELECT event_type, count(*)::bigint AS n FROM audit_events WHERE account_id = 'race-acct' GROUP BY 1 ORDER BY 1`);
    expect(audit.rows).toEqual([
      { event_type: "account.credited", n: 1n },
      { event_type: "preauth.authorized", n: 100n },
      { event_type: "preauth.declined", n: 100n },
    ]);
  });

  it("answers the available funds after the hold, declines unknown accounts, and replays declines", async () => {
    const { db } = ctx();
    await fund("avail", 1_000n);
    const granted = await authorizeHold(db, holdInput("av-1", "avail", 300n));
    expect(granted.preauth).toMatchObject({ status: "pending", heldMicros: 300n, availableMicros: 700n });
    expect(granted.preauth.preauthId).toMatch(/^pa_[0-9a-f]{32}$/);
    const ttl = granted.preauth.expiresAt.getTime() - granted.preauth.createdAt.getTime();
    expect(ttl).toBe(600_000);

    const short = await authorizeHold(db, holdInput("av-2", "avail", 701n));
    expect(short.preauth).toMatchObject({
      status: "declined",
      declineReason: "insufficient_funds",
      heldMicros: 0n,
      availableMicros: 700n,
    });
    const unknown = await authorizeHold(db, holdInput("av-3", "nobody", 1n));
    expect(unknown.preauth).toMatchObject({
      status: "declined",
      declineReason: "unknown_account",
      availableMicros: 0n,
    });

    await fund("nobody", 10n);
    const replay = await authorizeHold(db, holdInput("av-3", "nobody", 1n));
    expect(replay).toEqual({ replayed: true, preauth: unknown.preauth });
    expect(await authorizeHold(db, holdInput("av-1", "avail", 300n))).toEqual({
      replayed: true,
      preauth: granted.preauth,
    });
    expect(await codeOf(authorizeHold(db, holdInput("av-1", "avail", 301n)))).toBe("ALREADY_EXISTS");
    expect((await getBalance(db, "avail")).heldMicros).toBe(300n);
  });

  it("holds once for concurrent twins of one request_id", async () => {
    const { db } = ctx();
    await fund("twins", 1_000n);
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () => authorizeHold(db, holdInput("tw-1", "twins", 10n))),
    );
    expect(outcomes.filter((o) => !o.replayed)).toHaveLength(1);
    expect(new Set(outcomes.map((o) => o.preauth.preauthId)).size).toBe(1);
    expect((await getBalance(db, "twins")).heldMicros).toBe(10n);
  });
});

describe("cancelHold and captureHold", () => {
  it("cancel releases the hold once; repeats replay; other moves are refused", async () => {
    const { db } = ctx();
    await fund("cx", 1_000n);
    const { preauth } = await authorizeHold(db, holdInput("cx-auth", "cx", 400n));
    const cancel = { requestId: "cx-cancel", preauthId: preauth.preauthId, reason: "user", actor: "t" };
    const first = await cancelHold(db, cancel);
    expect(first.replayed).toBe(false);
    expect(first.preauth).toMatchObject({ status: "cancelled", heldMicros: 0n, releasedMicros: 400n });
    expect(await cancelHold(db, cancel)).toEqual({ replayed: true, preauth: first.preauth });
    expect(await codeOf(cancelHold(db, { ...cancel, reason: "other" }))).toBe("ALREADY_EXISTS");
    expect(await codeOf(cancelHold(db, { ...cancel, requestId: "cx-cancel-2" }))).toBe("FAILED_PRECONDITION");
    const capture = {
      requestId: "cx-cap",
      preauthId: preauth.preauthId,
      usage: USAGE,
      capturedCostMicros: 5n,
      actor: "t",
    };
    expect(await codeOf(captureHold(db, capture))).toBe("FAILED_PRECONDITION");
    expect(await codeOf(cancelHold(db, { ...cancel, preauthId: "pa_missing" }))).toBe("NOT_FOUND");
    // The cancel's request id is taken: using it for another pre-auth is a conflict, not a second cancel.
    const other = await authorizeHold(db, holdInput("cx-auth-2", "cx", 1n));
    expect(await codeOf(cancelHold(db, { ...cancel, preauthId: other.preauth.preauthId }))).toBe(
      "ALREADY_EXISTS",
    );
    expect((await getBalance(db, "cx")).heldMicros).toBe(1n);
  });

  it("capture records usage and cost, keeps the cost held, releases the rest, and refuses a second capture", async () => {
    const { db } = ctx();
    await fund("cp", 1_000n);
    const { preauth } = await authorizeHold(db, holdInput("cp-auth", "cp", 400n));
    const capture = {
      requestId: "cp-cap",
      preauthId: preauth.preauthId,
      usage: USAGE,
      capturedCostMicros: 150n,
      actor: "t",
    };
    const first = await captureHold(db, capture);
    expect(first.preauth).toMatchObject({
      status: "captured",
      heldMicros: 150n,
      capturedCostMicros: 150n,
      releasedMicros: 250n,
      captureRequestId: "cp-cap",
    });
    // Until the settlement charges it, the cost stays held: available already reads what it will be.
    expect(await getBalance(db, "cp")).toMatchObject({
      balanceMicros: 1_000n,
      heldMicros: 150n,
      availableMicros: 850n,
    });
    expect(await captureHold(db, capture)).toEqual({ replayed: true, preauth: first.preauth });
    expect(await codeOf(captureHold(db, { ...capture, usage: { ...USAGE, outputTokens: 6n } }))).toBe(
      "ALREADY_EXISTS",
    );
    expect(await codeOf(captureHold(db, { ...capture, requestId: "cp-cap-2" }))).toBe("FAILED_PRECONDITION");
    expect(
      await codeOf(
        cancelHold(db, { requestId: "cp-cx", preauthId: preauth.preauthId, reason: "", actor: "t" }),
      ),
    ).toBe("FAILED_PRECONDITION");
    const row = await db.execute<Record<string, unknown>>(sql`
      SELECT captured_input_tokens, captured_output_tokens, captured_cached_input_tokens, captured_cache_write_tokens,
        captured_at IS NOT NULL AS stamped
      FROM preauths WHERE preauth_id = ${preauth.preauthId}`);
    expect(row.rows[0]).toEqual({
      captured_input_tokens: 10n,
      captured_output_tokens: 5n,
      captured_cached_input_tokens: 0n,
      captured_cache_write_tokens: 0n,
      stamped: true,
    });
  });

  it("an expired pre-auth can still be captured (charging), but not cancelled", async () => {
    const { db } = ctx();
    await fund("ex", 1_000n);
    const { preauth } = await authorizeHold(db, holdInput("ex-auth", "ex", 400n));
    await backdate([preauth.preauthId]);
    expect(await expireDuePreauths(db, { limit: 100, actor: "sweeper" })).toBe(1);
    expect(await getPreauth(db, preauth.preauthId)).toMatchObject({
      status: "expired",
      heldMicros: 0n,
      releasedMicros: 400n,
    });
    expect((await getBalance(db, "ex")).heldMicros).toBe(0n);
    expect(
      await codeOf(
        cancelHold(db, { requestId: "ex-cx", preauthId: preauth.preauthId, reason: "", actor: "t" }),
      ),
    ).toBe("FAILED_PRECONDITION");
    const captured = await captureHold(db, {
      requestId: "ex-cap",
      preauthId: preauth.preauthId,
      usage: USAGE,
      capturedCostMicros: 600n,
      actor: "t",
    });
    expect(captured.preauth).toMatchObject({
      status: "captured",
      heldMicros: 600n,
      capturedCostMicros: 600n,
      releasedMicros: 0n,
    });
    // The expiry gave the estimate back; the capture holds its cost again until it is settled.
    expect(await getBalance(db, "ex")).toMatchObject({ heldMicros: 600n, availableMicros: 400n });
  });

  it("a capture above the estimate holds the whole cost, even past the funds", async () => {
    const { db } = ctx();
    await fund("over", 500n);
    const { preauth } = await authorizeHold(db, holdInput("over-auth", "over", 400n));
    const captured = await captureHold(db, {
      requestId: "over-cap",
      preauthId: preauth.preauthId,
      usage: USAGE,
      capturedCostMicros: 700n,
      actor: "t",
    });
    expect(captured.preauth).toMatchObject({ heldMicros: 700n, releasedMicros: 0n });
    expect(await getBalance(db, "over")).toMatchObject({
      balanceMicros: 500n,
      heldMicros: 700n,
      availableMicros: -200n,
    });
    expect((await authorizeHold(db, holdInput("over-next", "over", 1n))).preauth.status).toBe("declined");
  });
});

describe("capture, cancel and expiry racing", () => {
  it("gives each of 1,000 holds exactly one terminal move; held equals what is still pending", async () => {
    const { db } = ctx();
    const accounts = Array.from({ length: 10 }, (_, i) => `rc-${i}`);
    await Promise.all(accounts.map((a) => fund(a, 1_000_000n)));
    const holds = await inFlight(
      Array.from(
        { length: 1_000 },
        (_, i) => () =>
          authorizeHold(db, holdInput(`rc-auth-${i}`, accounts[i % 10] ?? "", BigInt(100 + (i % 7)))),
      ),
      8,
    );
    const ids = holds.map((h) => h.preauth.preauthId);

    let sweeping = true;
    let expiredBySweepers = 0;
    const sweeper = async () => {
      while (sweeping) {
        const expired = await expireDuePreauths(db, { limit: 20, actor: "sweeper" });
        expiredBySweepers += expired;
      }
    };
    const sweepers = [sweeper(), sweeper(), sweeper()];
    const settle = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: unknown) => (e instanceof DomainError ? e.code : "other"),
      );
    const capture = (preauthId: string, i: number) => () =>
      settle(
        captureHold(db, {
          requestId: `rc-cap-${i}`,
          preauthId,
          usage: USAGE,
          capturedCostMicros: 50n,
          actor: "t",
        }),
      );
    const cancel = (preauthId: string, i: number) => () =>
      settle(cancelHold(db, { requestId: `rc-cx-${i}`, preauthId, reason: "", actor: "t" }));
    // The first 900 fall due in groups of 30 just as their captures and cancels arrive, so the sweepers race
    // them row by row; the last 100 stay pending with their holds.
    const tasks: (() => Promise<string>)[] = [];
    for (let start = 0; start < 900; start += 30) {
      const group = ids.slice(start, start + 30);
      tasks.push(() => backdate(group).then(() => "ok"));
      group.forEach((preauthId, k) => {
        const i = start + k;
        if (i % 3 === 0) tasks.push(capture(preauthId, i));
        else if (i % 3 === 1) tasks.push(cancel(preauthId, i));
        else tasks.push(cancel(preauthId, i), capture(preauthId, i));
      });
    }
    const results = await inFlight(tasks, 6);
    sweeping = false;
    await Promise.all(sweepers);
    const stragglers = await expireDuePreauths(db, { limit: 1_000, actor: "sweeper" });
    expiredBySweepers += stragglers;

    expect(results.filter((r) => r !== "ok" && r !== "FAILED_PRECONDITION")).toEqual([]);
    const states = await db.execute<{ status: string; n: bigint; held: bigint }>(sql`
      SELECT status, count(*)::bigint AS n, sum(held_micros)::bigint AS held FROM preauths
      WHERE preauth_id = ANY(${sql.param(ids)}::text[]) GROUP BY status`);
    const byStatus = new Map(states.rows.map((r) => [r.status, r]));
    expect(byStatus.get("pending")?.n).toBe(100n);
    const terminal = ["captured", "cancelled", "expired"].reduce(
      (n, s) => n + (byStatus.get(s)?.n ?? 0n),
      0n,
    );
    expect(terminal).toBe(900n);
    for (const s of ["cancelled", "expired"]) expect(byStatus.get(s)?.held ?? 0n).toBe(0n);
    // Each capture holds its cost (50) until it is settled.
    expect(byStatus.get("captured")?.held).toBe(50n * (byStatus.get("captured")?.n ?? 0n));

    // Each hold was released by exactly one of: cancel, expiry, capture-while-pending.
    const releases = await db.execute<{ preauth_id: string; n: bigint }>(sql`
      SELECT preauth_id, count(*)::bigint AS n FROM audit_events
      WHERE preauth_id = ANY(${sql.param(ids.slice(0, 900))}::text[])
        AND (event_type IN ('preauth.cancelled', 'preauth.expired')
             OR (event_type = 'preauth.capture_requested' AND (payload::jsonb ->> 'releasedMicros') IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM audit_events e2 WHERE e2.preauth_id = audit_events.preauth_id
                                 AND e2.event_type = 'preauth.expired')))
      GROUP BY preauth_id`);
    expect(releases.rows).toHaveLength(900);
    expect(releases.rows.every((r) => r.n === 1n)).toBe(true);
    const expiredEvents = await db.execute<{ n: bigint }>(
      sql`SELECT count(*)::bigint AS n FROM audit_events WHERE event_type = 'preauth.expired' AND account_id LIKE 'rc-%'`,
    );
    expect(expiredEvents.rows[0]?.n).toBe(BigInt(expiredBySweepers));

    const held = await db.execute<{ held: bigint }>(sql`
      SELECT sum(held_micros)::bigint AS held FROM accounts WHERE account_id = ANY(${sql.param(accounts)}::text[])`);
    expect(held.rows[0]?.held).toBe(await preauthsHeld(accounts));
  });
});
