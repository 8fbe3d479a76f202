import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { type Any, BadRequest, RpcStatus } from "@heidrun/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BAD_REQUEST_TYPE_URL, STATUS_DETAILS_KEY } from "./errors";
import { failure, startTestIngress, type TestIngress, unary } from "./test-harness";
import { INVALID_CASES } from "./validation-cases";

function badRequestOf(error: ServiceError): { status: RpcStatus; any: Any; badRequest: BadRequest } {
  const [bytes] = error.metadata.get(STATUS_DETAILS_KEY);
  const decoded = RpcStatus.decode(bytes as Buffer);
  const any = decoded.details[0]!;
  return { status: decoded, any, badRequest: BadRequest.decode(any.value) };
}

describe("validation over the wire", () => {
  let t: TestIngress;
  beforeAll(async () => {
    t = await startTestIngress();
  });
  afterAll(() => t.close());

  it.each(INVALID_CASES.map((c) => [`${c.service}.${c.method}: ${c.name}`, c] as const))(
    "%s → INVALID_ARGUMENT naming the field",
    async (_, c) => {
      const client = t.clients[c.service] as unknown as Record<string, Parameters<typeof unary>[0]>;
      const error = await failure(unary(client[c.method]!.bind(client), c.request));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details.startsWith(`${c.field}: `)).toBe(true);
      const details = badRequestOf(error);
      expect(details.status.code).toBe(status.INVALID_ARGUMENT);
      expect(details.any.typeUrl).toBe(BAD_REQUEST_TYPE_URL);
      expect(details.badRequest.fieldViolations.map((v) => v.field)).toEqual([c.field]);
    },
  );

  it("puts the reason without the field path in the violation's description", async () => {
    const request = { requestId: "r-1", accountId: "acct-1", amountMicros: 0n, reference: "" };
    const error = await failure(unary(t.clients.account.creditAccount.bind(t.clients.account), request));
    expect(error.details).toBe("amount_micros: must be greater than 0, got 0");
    expect(badRequestOf(error).badRequest.fieldViolations).toEqual([
      { field: "amount_micros", description: "must be greater than 0, got 0" },
    ]);
  });

  it("sends no status details for errors that are not about a field", async () => {
    const error = await failure(
      unary(t.clients.account.getBalance.bind(t.clients.account), { accountId: "a" }, new Metadata()),
    );
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(error.metadata.get(STATUS_DETAILS_KEY)).toEqual([]);
  });
});
