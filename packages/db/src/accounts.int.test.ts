import { DomainError } from "@heidrun/core";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { creditAccount, getBalance, setCreditLimit } from "./accounts";

const ctx = useTestContext();

async function auditTypes(accountId: string): Promise<string[]> {
  const result = await ctx().db.execute<{ event_type: string }>(
    sql`SELECT event_type FROM audit_events WHERE account_id = ${accountId} ORDER BY seq`,
  );
  return result.rows.map((row) => row.event_type);
}

async function expectDomainError(promise: Promise<unknown>, code: string): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).code).toBe(code);
  return error as DomainError;
}

describe("creditAccount", () => {
  it("creates the account on first credit, posts balanced ledger entries and an audit record", async () => {
    const { db } = ctx();
    const first = await creditAccount(db, {
      requestId: "cr-1",
      accountId: "acct-a",
      amountMicros: 5_000_000n,
      reference: "pay_1",
      actor: "key-1",
    });
    expect(first).toEqual({
      replayed: false,
      balance: {
        accountId: "acct-a",
        balanceMicros: 5_000_000n,
        heldMicros: 0n,
        availableMicros: 5_000_000n,
        creditLimitMicros: 0n,
        currency: "USD",
      },
    });
    const second = await creditAccount(db, {
      requestId: "cr-2",
      accountId: "acct-a",
      amountMicros: 250n,
      reference: "",
      actor: "key-1",
    });
    expect(second.balance.balanceMicros).toBe(5_000_250n);

    const ledger = await db.execute<{ entry_type: string; account_kind: string; amount_micros: bigint }>(
      sql`SELECT entry_type, account_kind, amount_micros FROM ledger_entries WHERE request_id = 'cr-1' ORDER BY entry_type`,
    );
    expect(ledger.rows).toEqual([
      { entry_type: "credit", account_kind: "consumer", amount_micros: 5_000_000n },
      { entry_type: "credit_funding", account_kind: "funding", amount_micros: -5_000_000n },
    ]);
    const sum = await db.execute<{ total: bigint }>(
      sql`SELECT sum(amount_micros)::bigint AS total FROM ledger_entries`,
    );
    expect(sum.rows[0]?.total).toBe(0n);
    expect(await auditTypes("acct-a")).toEqual(["account.credited", "account.credited"]);
  });

  it("replays a repeated request_id and refuses one with other arguments", async () => {
    const { db } = ctx();
    const input = { requestId: "cr-r", accountId: "acct-r", amountMicros: 100n, reference: "x", actor: "k" };
    const first = await creditAccount(db, input);
    await creditAccount(db, { ...input, requestId: "cr-r2" });
    const again = await creditAccount(db, input);
    expect(again).toEqual({ replayed: true, balance: first.balance });
    expect((await getBalance(db, "acct-r")).balanceMicros).toBe(200n);
    const conflict = await expectDomainError(
      creditAccount(db, { ...input, amountMicros: 101n }),
      "ALREADY_EXISTS",
    );
    expect(conflict.field).toBe("request_id");
    await expectDomainError(creditAccount(db, { ...input, reference: "y" }), "ALREADY_EXISTS");
    expect(await auditTypes("acct-r")).toEqual(["account.credited", "account.credited"]);
  });

  it("applies concurrent twins of one request_id once", async () => {
    const { db } = ctx();
    const input = { requestId: "cr-twin", accountId: "acct-t", amountMicros: 7n, reference: "", actor: "k" };
    const results = await Promise.all(Array.from({ length: 8 }, () => creditAccount(db, input)));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(new Set(results.map((r) => r.balance.balanceMicros))).toEqual(new Set([7n]));
    expect((await getBalance(db, "acct-t")).balanceMicros).toBe(7n);
  });

  it("rejects a non-positive amount", async () => {
    await expectDomainError(
      creditAccount(ctx().db, {
        requestId: "cr-0",
        accountId: "a",
        amountMicros: 0n,
        reference: "",
        actor: "k",
      }),
      "INVALID_ARGUMENT",
    );
  });
});

describe("setCreditLimit", () => {
  it("creates the account if new, then changes the limit; replays and refuses conflicts", async () => {
    const { db } = ctx();
    const input = { requestId: "cl-1", accountId: "acct-l", creditLimitMicros: 900n, actor: "admin" };
    const first = await setCreditLimit(db, input);
    expect(first.balance).toEqual({
      accountId: "acct-l",
      balanceMicros: 0n,
      heldMicros: 0n,
      availableMicros: 900n,
      creditLimitMicros: 900n,
      currency: "USD",
    });
    await creditAccount(db, {
      requestId: "cl-cr",
      accountId: "acct-l",
      amountMicros: 100n,
      reference: "",
      actor: "k",
    });
    const lowered = await setCreditLimit(db, { ...input, requestId: "cl-2", creditLimitMicros: 0n });
    expect(lowered.balance.availableMicros).toBe(100n);
    expect(await setCreditLimit(db, input)).toEqual({ replayed: true, balance: first.balance });
    await expectDomainError(setCreditLimit(db, { ...input, creditLimitMicros: 1n }), "ALREADY_EXISTS");
    // A credit's request_id cannot be reused for a limit, even with the same amount.
    await expectDomainError(
      setCreditLimit(db, {
        requestId: "cl-cr",
        accountId: "acct-l",
        creditLimitMicros: 100n,
        actor: "admin",
      }),
      "ALREADY_EXISTS",
    );
    await expectDomainError(setCreditLimit(db, { ...input, creditLimitMicros: -1n }), "INVALID_ARGUMENT");
    expect(await auditTypes("acct-l")).toEqual([
      "account.credit_limit_set",
      "account.credited",
      "account.credit_limit_set",
    ]);
  });
});

describe("getBalance", () => {
  it("answers NOT_FOUND for an unknown account", async () => {
    await expectDomainError(getBalance(ctx().db, "nobody"), "NOT_FOUND");
  });
});
