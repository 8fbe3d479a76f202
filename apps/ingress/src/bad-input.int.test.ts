import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { badInputCases } from "../../../faults/bad-input/cases";
import { IngressUnderTest } from "../../../faults/bad-input/harness";

/**
 * Every RPC against hostile ids, out-of-range numbers, missing fields and NUL in stored text, through a
 * production ingress (createIngressDeps) on a test database: each gets the spec's exact status, changes no
 * row of any table, the audit head or any Redis key, and the next valid call is answered.
 */
const ctx = useTestContext();
let t: IngressUnderTest;

beforeAll(async () => {
  t = await IngressUnderTest.start(ctx());
});
afterAll(() => t?.close());

const CASES = badInputCases(() => t.preauthId);

describe("bad input over the wire", () => {
  it("covers every RPC of the contract", () => {
    const methods = new Set(CASES.map((c) => `${c.service}.${c.method}`));
    expect(methods.size).toBe(17);
  });

  it.each(CASES.map((c) => [`${c.service}.${c.method}: ${c.name}`, c] as const))("%s", async (_, c) => {
    const before = await t.snapshot();
    const answer = await t.call(c.service, c.method, c.request());
    const named = c.field === undefined ? "" : answer.details.slice(0, c.field.length + 2);
    expect({ code: answer.code, named }).toEqual({
      code: c.code,
      named: c.field === undefined ? "" : `${c.field}: `,
    });
    expect(await t.snapshot()).toEqual(before);
    expect((await t.call("account", "getBalance", { accountId: "acct-1" })).code).toBe("OK");
  });
});
