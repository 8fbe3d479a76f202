import { DomainError } from "@heidrun/core";
import { silentLogger } from "@heidrun/observability";
import { useTestContext } from "@heidrun/testing";
import { beforeAll, describe, expect, it } from "vitest";
import type { AccountHandlers, CallContext } from "../context";
import { createAccountHandlers } from "./account";

const ctx = useTestContext();
const call: CallContext = {
  principal: { keyId: "adm00001", scope: "admin" },
  log: silentLogger(),
  signal: new AbortController().signal,
};
let handlers: AccountHandlers;

beforeAll(() => {
  handlers = createAccountHandlers({ db: ctx().db });
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error.code;
}

describe("AccountService", () => {
  it("credits, sets the limit, reports available = balance + limit − held, and replays", async () => {
    const credit = { requestId: "c-1", accountId: "acme", amountMicros: 2_500_000n, reference: "inv-7" };
    const credited = await handlers.creditAccount(credit, call);
    expect(credited.balance).toEqual({
      accountId: "acme",
      balanceMicros: 2_500_000n,
      heldMicros: 0n,
      availableMicros: 2_500_000n,
      creditLimitMicros: 0n,
      currency: "USD",
    });
    const limited = await handlers.setCreditLimit(
      { requestId: "l-1", accountId: "acme", creditLimitMicros: 500_000n },
      call,
    );
    expect(limited.balance).toMatchObject({ availableMicros: 3_000_000n, creditLimitMicros: 500_000n });
    expect(await handlers.getBalance({ accountId: "acme" }, call)).toEqual(limited);

    expect(await handlers.creditAccount(credit, call)).toEqual(credited);
    expect(await codeOf(handlers.creditAccount({ ...credit, amountMicros: 1n }, call))).toBe(
      "ALREADY_EXISTS",
    );
    expect(
      await codeOf(
        handlers.setCreditLimit({ requestId: "l-1", accountId: "acme", creditLimitMicros: 1n }, call),
      ),
    ).toBe("ALREADY_EXISTS");
    expect((await handlers.getBalance({ accountId: "acme" }, call)).balance?.balanceMicros).toBe(2_500_000n);
  });

  it("creates an account from its credit limit alone; unknown accounts are NOT_FOUND", async () => {
    const limited = await handlers.setCreditLimit(
      { requestId: "l-new", accountId: "postpaid", creditLimitMicros: 7n },
      call,
    );
    expect(limited.balance).toMatchObject({ balanceMicros: 0n, availableMicros: 7n });
    expect(await codeOf(handlers.getBalance({ accountId: "nobody" }, call))).toBe("NOT_FOUND");
  });
});
