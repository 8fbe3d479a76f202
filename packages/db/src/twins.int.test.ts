import { useTestContext } from "@heidrun/testing";
import { describe, expect, it } from "vitest";
import { creditAccount } from "./accounts";
import { type AuthorizeHoldInput, authorizeHold } from "./preauths";

const ctx = useTestContext();

// Twins of one request_id sent at once (a client retrying before its first call returned) must all get the
// first answer: never INTERNAL, never applied twice.
describe("concurrent twins of one request_id", () => {
  it("credits once and answers every twin with the first answer", async () => {
    for (let round = 0; round < 15; round++) {
      const input = {
        requestId: `credit-${round}`,
        accountId: "acct-twins",
        amountMicros: 100n,
        reference: "",
        actor: "t",
      };
      const answers = await Promise.all(Array.from({ length: 6 }, () => creditAccount(ctx().db, input)));
      expect(answers.filter((a) => !a.replayed)).toHaveLength(1);
      const first = answers.find((a) => !a.replayed)!;
      for (const answer of answers) expect(answer.balance).toEqual(first.balance);
    }
    const { rows } = await ctx().pool.query(
      "SELECT balance_micros FROM accounts WHERE account_id = 'acct-twins'",
    );
    expect(rows[0].balance_micros).toBe(1500n);
  });

  it("holds once and answers every twin with the first answer", async () => {
    for (let round = 0; round < 15; round++) {
      const input: AuthorizeHoldInput = {
        requestId: `hold-${round}`,
        fingerprint: `fp-${round}`,
        accountId: "acct-twins",
        providerId: "prov",
        model: "m",
        estimatedCostMicros: 10n,
        estimatedInputTokens: 1n,
        maxOutputTokens: 1n,
        priceVersion: 1n,
        priceVersionId: null,
        ttlSeconds: 600,
        actor: "t",
      };
      const answers = await Promise.all(Array.from({ length: 6 }, () => authorizeHold(ctx().db, input)));
      expect(answers.filter((a) => !a.replayed)).toHaveLength(1);
      expect(new Set(answers.map((a) => a.preauth.preauthId)).size).toBe(1);
    }
    const { rows } = await ctx().pool.query(
      "SELECT held_micros FROM accounts WHERE account_id = 'acct-twins'",
    );
    expect(rows[0].held_micros).toBe(150n);
  });
});
