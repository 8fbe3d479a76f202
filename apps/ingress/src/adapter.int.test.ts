import { Writable } from "node:stream";
import { Client, credentials, type Metadata, status } from "@grpc/grpc-js";
import { DomainError, type DomainErrorCode } from "@heidrun/core";
import { createLogger } from "@heidrun/observability";
import { Balance, CountTokensRequest, GetBalanceRequest } from "@heidrun/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext } from "./context";
import { ADMIN_KEY, bearer, failure, startTestIngress, type TestIngress, unary } from "./test-harness";

const outcome: { next: (ctx: CallContext) => Promise<unknown> } = { next: async () => ({}) };
const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).trim().split("\n")) lines.push(JSON.parse(line));
    done();
  },
});

describe("the unary adapter", () => {
  let t: TestIngress;
  const getBalance = (accountId = "acct-1", metadata: Metadata = bearer(ADMIN_KEY), deadline?: Date) =>
    unary(
      t.clients.account.getBalance.bind(t.clients.account),
      GetBalanceRequest.fromPartial({ accountId }),
      metadata,
      deadline ? { deadline } : {},
    );
  beforeAll(async () => {
    t = await startTestIngress({
      log: createLogger({ name: "ingress-test", level: "info", destination: sink }),
      settings: { ingress: { maxDeadlineMs: 300, healthCheckIntervalMs: 100 } },
      handlerOverrides: {
        account: { getBalance: async (_request, ctx) => (await outcome.next(ctx)) as { balance: Balance } },
      },
    });
  });
  afterAll(() => t.close());

  it.each([
    ["NOT_FOUND", status.NOT_FOUND],
    ["ALREADY_EXISTS", status.ALREADY_EXISTS],
    ["FAILED_PRECONDITION", status.FAILED_PRECONDITION],
    ["UNAVAILABLE", status.UNAVAILABLE],
    ["RESOURCE_EXHAUSTED", status.RESOURCE_EXHAUSTED],
    ["UNIMPLEMENTED", status.UNIMPLEMENTED],
  ] as [DomainErrorCode, status][])(
    "maps DomainError %s to the status of the same name",
    async (code, expected) => {
      outcome.next = async () => {
        throw new DomainError(code, `AccountService.GetBalance: ${code.toLowerCase()}`);
      };
      const error = await failure(getBalance());
      expect({ code: error.code, details: error.details }).toEqual({
        code: expected,
        details: `AccountService.GetBalance: ${code.toLowerCase()}`,
      });
    },
  );

  it("hides unexpected errors behind INTERNAL with a correlation id, and logs them with the stack", async () => {
    outcome.next = async () => {
      throw new Error("password=hunter2 in a connection string");
    };
    const error = await failure(getBalance("acct-7"));
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details).toMatch(/^internal error \(request_id=[0-9a-f-]{36}\)$/);
    const correlationId = /request_id=(.*)\)/.exec(error.details)![1];
    const logged = lines.find((line) => line.request_id === correlationId);
    expect(logged).toMatchObject({
      level: 50,
      code: "INTERNAL",
      method: "heidrun.v1.AccountService/GetBalance",
    });
    expect((logged!.err as { stack: string }).stack).toContain("password=hunter2");
  });

  it("answers UNAVAILABLE, not INTERNAL, when a handler lets a connection failure through", async () => {
    outcome.next = async () => {
      throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    };
    expect((await failure(getBalance())).code).toBe(status.UNAVAILABLE);
  });

  it("writes one log line and counts the call in the metrics", async () => {
    outcome.next = async () => ({ balance: Balance.fromPartial({ accountId: "acct-9" }) });
    const okBefore = await okCalls(t);
    await getBalance("acct-9");
    expect(await okCalls(t)).toBe(okBefore + 1);
    const line = lines.findLast(
      (l) => l.method === "heidrun.v1.AccountService/GetBalance" && l.code === "OK",
    );
    expect(line).toMatchObject({
      msg: "rpc",
      code: "OK",
      level: 30,
      key_id: ADMIN_KEY.id,
      request_id: expect.any(String),
    });
    expect(typeof line?.duration_ms).toBe("number");
    const latency = await t.deps.registry.getSingleMetricAsString("heidrun_grpc_server_handling_seconds");
    expect(latency).toContain(
      'heidrun_grpc_server_handling_seconds_count{method="heidrun.v1.AccountService/GetBalance"}',
    );
  });

  it("caps the caller's deadline at the ingress maximum and aborts the handler's signal", async () => {
    let seen: CallContext | undefined;
    outcome.next = (ctx) => {
      seen = ctx;
      return new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
      );
    };
    const callerDeadline = new Date(Date.now() + 3_600_000);
    const error = await failure(getBalance("acct-1", bearer(ADMIN_KEY), callerDeadline));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(seen?.signal.aborted).toBe(true);
    expect(seen!.deadline!.getTime()).toBeLessThan(callerDeadline.getTime());
  });

  it("aborts the handler's signal, made on demand, when the caller cancels; its log lines carry the call", async () => {
    let aborted: (reason: unknown) => void = () => {};
    const reason = new Promise<unknown>((resolve) => (aborted = resolve));
    let started: () => void = () => {};
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    outcome.next = (ctx) => {
      ctx.log.info({ step: "waiting" }, "handler line");
      ctx.signal.addEventListener("abort", () => aborted(ctx.signal.reason));
      started();
      return new Promise(() => {});
    };
    const call = t.clients.account.getBalance(
      GetBalanceRequest.fromPartial({ accountId: "acct-cancel" }),
      bearer(ADMIN_KEY),
      () => {},
    );
    await handlerStarted;
    call.cancel();
    expect(await reason).toMatchObject({ code: "UNAVAILABLE", message: "the caller cancelled the call" });
    expect(lines.find((line) => line.msg === "handler line")).toMatchObject({
      method: "heidrun.v1.AccountService/GetBalance",
      request_id: expect.any(String),
      step: "waiting",
    });
  });

  it("answers INVALID_ARGUMENT, not INTERNAL, for bytes that are not the request message", async () => {
    const raw = new Client(t.address, credentials.createInsecure());
    const error = await new Promise<{ code: number; details: string }>((resolve) =>
      raw.makeUnaryRequest(
        "/heidrun.v1.AccountService/GetBalance",
        (value: Buffer) => value,
        (value: Buffer) => value,
        Buffer.from([0x0a, 0xff, 0xff, 0xff]),
        bearer(ADMIN_KEY),
        (err) => resolve(err as { code: number; details: string }),
      ),
    );
    raw.close();
    expect(error).toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it("refuses a message above 4 MiB with RESOURCE_EXHAUSTED", async () => {
    const request = CountTokensRequest.fromPartial({
      model: "gpt-4o",
      inputText: "a".repeat(5 * 1000 * 1000),
    });
    const error = await failure(unary(t.clients.token.countTokens.bind(t.clients.token), request));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
  });
});

async function okCalls(t: TestIngress): Promise<number> {
  const metrics = await t.deps.registry.getMetricsAsJSON();
  const calls = metrics.find((m) => m.name === "heidrun_grpc_server_handled_total");
  const match = calls?.values.find(
    (v) => v.labels.method === "heidrun.v1.AccountService/GetBalance" && v.labels.code === "OK",
  );
  return match?.value ?? 0;
}
