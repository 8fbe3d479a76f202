import { credentials, Metadata, makeGenericClientConstructor, status } from "@grpc/grpc-js";
import {
  Balance,
  GetBalanceRequest,
  RerunFailedSettlementsRequest,
  SetCreditLimitRequest,
  SetPricingConfigRequest,
} from "@heidrun/proto";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext } from "./context";
import {
  ADMIN_KEY,
  bearer,
  failure,
  startTestIngress,
  type TestIngress,
  unary,
  YGGDRASIL_KEY,
} from "./test-harness";

const seen: CallContext[] = [];
const balance = async (request: GetBalanceRequest, ctx: CallContext) => {
  seen.push(ctx);
  return { balance: Balance.fromPartial({ accountId: request.accountId, currency: "USD" }) };
};
const overrides = {
  account: {
    getBalance: balance,
    setCreditLimit: async (request: SetCreditLimitRequest) => ({
      balance: Balance.fromPartial({
        accountId: request.accountId,
        creditLimitMicros: request.creditLimitMicros,
      }),
    }),
  },
};
const getBalance = GetBalanceRequest.fromPartial({ accountId: "acct-1" });

describe("auth with API keys configured", () => {
  let t: TestIngress;
  beforeAll(async () => {
    t = await startTestIngress({ handlerOverrides: overrides });
  });
  afterAll(() => t.close());
  const balanceCall = (metadata: Metadata) =>
    unary(t.clients.account.getBalance.bind(t.clients.account), getBalance, metadata);

  it("rejects a call without a key as UNAUTHENTICATED", async () => {
    const error = await failure(balanceCall(new Metadata()));
    expect({ code: error.code, details: error.details }).toEqual({
      code: status.UNAUTHENTICATED,
      details: "missing API key: send metadata `authorization: Bearer <key>`",
    });
  });

  it("rejects an unknown key and a non-Bearer header as UNAUTHENTICATED", async () => {
    expect((await failure(balanceCall(bearer("not-a-configured-key-000")))).details).toBe("unknown API key");
    const basic = new Metadata();
    basic.set("authorization", `Basic ${YGGDRASIL_KEY.key}`);
    expect((await failure(balanceCall(basic))).code).toBe(status.UNAUTHENTICATED);
  });

  it("authenticates before validating, so an anonymous caller learns nothing about the request", async () => {
    const bad = GetBalanceRequest.fromPartial({ accountId: "" });
    const error = await failure(
      unary(t.clients.account.getBalance.bind(t.clients.account), bad, new Metadata()),
    );
    expect(error.code).toBe(status.UNAUTHENTICATED);
  });

  it("lets a yggdrasil key call data-plane methods and tells the handler who called", async () => {
    seen.length = 0;
    const response = await balanceCall(bearer(YGGDRASIL_KEY));
    expect(response.balance?.accountId).toBe("acct-1");
    expect(seen.map((ctx) => ctx.principal)).toEqual([{ keyId: YGGDRASIL_KEY.id, scope: "yggdrasil" }]);
  });

  it.each([
    [
      "SetCreditLimit",
      "account",
      "setCreditLimit",
      SetCreditLimitRequest.fromPartial({ requestId: "r1", accountId: "a" }),
    ],
    [
      "SetPricingConfig",
      "pricing",
      "setPricingConfig",
      SetPricingConfigRequest.fromPartial({ requestId: "r1", price: { providerId: "p", model: "*" } }),
    ],
    [
      "RerunFailedSettlements",
      "settlement",
      "rerunFailedSettlements",
      RerunFailedSettlementsRequest.fromPartial({ requestId: "r1" }),
    ],
  ] as const)("denies admin-only %s to a yggdrasil key", async (name, service, method, request) => {
    const client = t.clients[service] as unknown as Record<string, Parameters<typeof unary>[0]>;
    const error = await failure(unary(client[method]!.bind(client), request, bearer(YGGDRASIL_KEY)));
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toContain(name);
  });

  it("lets an admin key call admin-only methods", async () => {
    const request = SetCreditLimitRequest.fromPartial({
      requestId: "r1",
      accountId: "a",
      creditLimitMicros: 5n,
    });
    const response = await unary(
      t.clients.account.setCreditLimit.bind(t.clients.account),
      request,
      bearer(ADMIN_KEY),
    );
    expect(response.balance?.creditLimitMicros).toBe(5n);
  });

  it("answers health checks without a key", async () => {
    const Health = makeGenericClientConstructor(healthService, "Health");
    const health = new Health(t.address, credentials.createInsecure()) as unknown as {
      Check(request: object, callback: (error: Error | null, response: { status: string }) => void): void;
      close(): void;
    };
    const response = await new Promise<{ status: string }>((resolve, reject) =>
      health.Check({ service: "heidrun.v1.AccountService" }, (error, value) =>
        error ? reject(error) : resolve(value),
      ),
    );
    health.close();
    expect(response.status).toBe("SERVING");
  });
});

describe("auth with no API keys configured", () => {
  let t: TestIngress;
  beforeAll(async () => {
    t = await startTestIngress({ apiKeys: [], handlerOverrides: overrides });
  });
  afterAll(() => t.close());

  it("lets every call through as the anonymous admin", async () => {
    seen.length = 0;
    await unary(t.clients.account.getBalance.bind(t.clients.account), getBalance, new Metadata());
    expect(seen.map((ctx) => ctx.principal)).toEqual([{ keyId: "anonymous", scope: "admin" }]);
  });
});
