import { configStoreFor } from "@heidrun/config";
import { calculateCost, DomainError, type Usage } from "@heidrun/core";
import {
  creditAccount,
  expireDuePreauths,
  getBalance,
  PriceCache,
  priceChannel,
  setPrice,
} from "@heidrun/db";
import { silentLogger } from "@heidrun/observability";
import { DeclineReason, type PreAuthorizeRequest, PreAuthStatus } from "@heidrun/proto";
import { jobIdFor, SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { createTokenizerRegistry, TokenCountingService } from "@heidrun/tokenizers";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext, PreAuthHandlers } from "../context";
import { createPreAuthHandlers } from "./preauth";

const ctx = useTestContext();
const call: CallContext = {
  principal: { keyId: "key00001", scope: "yggdrasil" },
  log: silentLogger(),
  signal: new AbortController().signal,
};
const USAGE: Usage = {
  inputTokens: 1_200n,
  outputTokens: 700n,
  cachedInputTokens: 200n,
  cacheWriteTokens: 0n,
};

let handlers: PreAuthHandlers;
let priceCache: PriceCache;
let producer: SettlementProducer;
let tokenCounter: TokenCountingService;
const JAN = new Date("2025-01-01T00:00:00Z");

async function addPrice(
  requestId: string,
  model: string,
  input: bigint,
  output: bigint,
  effectiveFrom?: Date,
) {
  const { price } = await setPrice(
    ctx().db,
    {
      providerId: "openai",
      model,
      inputMicrosPerMtok: input,
      outputMicrosPerMtok: output,
      effectiveFrom,
    },
    { requestId, actor: "test" },
  );
  await priceCache.refresh();
  return price;
}

beforeAll(async () => {
  const config = configStoreFor(ctx(), { queue: { prefix: ctx().redisPrefix } });
  const settings = config.current().settings;
  priceCache = new PriceCache({
    db: ctx().db,
    channel: priceChannel(ctx().redisPrefix),
    refreshIntervalMs: 60_000,
  });
  await priceCache.start();
  producer = new SettlementProducer({
    connection: ctx().redis,
    prefix: ctx().redisPrefix,
    settings: () => ({ ...settings.queue, idempotencyWindowSeconds: settings.idempotencyWindowSeconds }),
  });
  tokenCounter = new TokenCountingService(createTokenizerRegistry());
  handlers = createPreAuthHandlers({ db: ctx().db, config, priceCache, producer, tokenCounter });
  // $0.15 / $0.60 per Mtok: 1,000 input + 500 output tokens hold 150 + 300 = 450 micros.
  await addPrice("price-mini", "gpt-4o-mini", 150_000n, 600_000n, JAN);
});
afterAll(async () => {
  await priceCache.stop();
  await producer.close();
  await tokenCounter.close();
});

function request(requestId: string, accountId: string, overrides: Partial<PreAuthorizeRequest> = {}) {
  return {
    requestId,
    accountId,
    providerId: "openai",
    model: "gpt-4o-mini",
    estimatedInputTokens: 1_000n,
    maxOutputTokens: 500n,
    promptText: "",
    messages: [],
    ttlSeconds: 0,
    ...overrides,
  };
}

async function fund(accountId: string, amount: bigint) {
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

async function queuedJob(captureRequestId: string) {
  const job = await producer.queue.getJob(jobIdFor(captureRequestId));
  return job && { name: job.name, data: job.data };
}

describe("PreAuthorize", () => {
  it("authorizes exactly 100 of 200 concurrent holds against funds for 100", async () => {
    await fund("race", 100n * 450n);
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => handlers.preAuthorize(request(`race-${i}`, "race"), call)),
    );
    const authorized = answers.filter((a) => a.authorized);
    expect(authorized).toHaveLength(100);
    expect(authorized.every((a) => a.estimatedCostMicros === 450n && a.priceVersion === 1n)).toBe(true);
    const declined = answers.filter((a) => !a.authorized);
    expect(declined.every((a) => a.declineReason === DeclineReason.DECLINE_REASON_INSUFFICIENT_FUNDS)).toBe(
      true,
    );
    expect(await getBalance(ctx().db, "race")).toMatchObject({ heldMicros: 45_000n, availableMicros: 0n });
  });

  it("answers available after the hold, pins the price version, replays, and refuses conflicts", async () => {
    await fund("pa", 1_000n);
    const first = await handlers.preAuthorize(request("pa-1", "pa"), call);
    expect(first).toMatchObject({
      requestId: "pa-1",
      authorized: true,
      estimatedCostMicros: 450n,
      availableMicros: 550n,
      declineReason: DeclineReason.DECLINE_REASON_UNSPECIFIED,
      priceVersion: 1n,
    });
    expect(first.preauthId).toMatch(/^pa_[0-9a-f]{32}$/);
    const got = await handlers.getPreAuth({ preauthId: first.preauthId }, call);
    expect(got.preauth).toMatchObject({ status: PreAuthStatus.PRE_AUTH_STATUS_PENDING, heldMicros: 450n });
    const created = got.preauth?.createdAt?.getTime() ?? 0;
    // ttl_seconds 0 → the default (900 s), measured on the database clock.
    expect((first.expiresAt?.getTime() ?? 0) - created).toBe(900_000);

    expect(await handlers.preAuthorize(request("pa-1", "pa"), call)).toEqual(first);
    expect(await codeOf(handlers.preAuthorize(request("pa-1", "pa", { maxOutputTokens: 501n }), call))).toBe(
      "ALREADY_EXISTS",
    );
    // 1,000 output tokens: 150 + 600 = 750 micros, more than the 550 left.
    const big = request("pa-2", "pa", { maxOutputTokens: 1_000n });
    const declined = await handlers.preAuthorize(big, call);
    expect(declined).toMatchObject({
      authorized: false,
      estimatedCostMicros: 750n,
      availableMicros: 550n,
      expiresAt: undefined,
      declineReason: DeclineReason.DECLINE_REASON_INSUFFICIENT_FUNDS,
    });
    await creditAccount(ctx().db, {
      requestId: "pa-top-up",
      accountId: "pa",
      amountMicros: 1_000n,
      reference: "",
      actor: "t",
    });
    expect(await handlers.preAuthorize(big, call)).toEqual(declined);
    const unknown = await handlers.preAuthorize(request("pa-3", "ghost"), call);
    expect(unknown).toMatchObject({
      authorized: false,
      availableMicros: 0n,
      declineReason: DeclineReason.DECLINE_REASON_UNKNOWN_ACCOUNT,
    });
    expect((await getBalance(ctx().db, "pa")).heldMicros).toBe(450n);
  });

  it("counts prompt_text with the model's tokenizer and checks its arguments", async () => {
    await fund("txt", 1_000_000n);
    const promptText = "The quick brown fox jumps over the lazy dog. ".repeat(20);
    const counted = await tokenCounter.countTokens({
      providerId: "openai",
      model: "gpt-4o-mini",
      text: promptText,
    });
    const answer = await handlers.preAuthorize(
      request("txt-1", "txt", { estimatedInputTokens: 0n, promptText }),
      call,
    );
    const expected = (counted.tokens * 150_000n + 500n * 600_000n + 999_999n) / 1_000_000n;
    expect(answer.estimatedCostMicros).toBe(expected);

    const messages = [{ role: "user", content: "hi", name: "" }];
    expect(await codeOf(handlers.preAuthorize(request("txt-2", "txt", { promptText, messages }), call))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(await codeOf(handlers.preAuthorize(request("txt-3", "txt", { promptText }), call))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(await codeOf(handlers.preAuthorize(request("txt-4", "txt", { ttlSeconds: 86_401 }), call))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(
      await codeOf(
        handlers.preAuthorize(request("txt-5", "txt", { model: "no-such-model", providerId: "x" }), call),
      ),
    ).toBe("NOT_FOUND");
  });
});

describe("CapturePreAuth and CancelPreAuth", () => {
  it("captures at the pinned version after a price change, queues the settlement, replays and re-queues", async () => {
    // gpt-4o gets a second version while the first pre-auth is pending; its capture keeps version 1.
    const first = await addPrice("price-4o-v1", "gpt-4o", 150_000n, 600_000n, JAN);
    await fund("cap", 10_000n);
    const held = await handlers.preAuthorize(request("cap-auth", "cap", { model: "gpt-4o" }), call);
    await addPrice("price-4o-v2", "gpt-4o", 300_000n, 1_200_000n);
    const later = await handlers.preAuthorize(request("cap-auth-v2", "cap", { model: "gpt-4o" }), call);
    expect(later).toMatchObject({ priceVersion: 2n, estimatedCostMicros: 900n });

    const capture = { requestId: "cap-1", preauthId: held.preauthId, usage: USAGE };
    const answer = await handlers.capturePreAuth(capture, call);
    const cost = calculateCost(USAGE, first).totalCostMicros;
    // Above the 450 held: charged in full (1,000 uncached + 200 cached at 0.15, 700 out at 0.60), nothing released.
    expect(cost).toBe(600n);
    expect(answer).toEqual({
      requestId: "cap-1",
      preauthId: held.preauthId,
      status: PreAuthStatus.PRE_AUTH_STATUS_CAPTURED,
      capturedCostMicros: 600n,
      releasedMicros: 0n,
    });
    expect(await queuedJob("cap-1")).toEqual({
      name: "settle-capture",
      data: { requestId: "cap-1", preauthId: held.preauthId, actor: "key00001" },
    });
    // The hold is now the cost (600 of it, beside the 900 of the later pre-auth) until the settlement worker
    // charges it and lowers the balance.
    expect(await getBalance(ctx().db, "cap")).toMatchObject({
      balanceMicros: 10_000n,
      heldMicros: 1_500n,
      availableMicros: 8_500n,
    });

    await (await producer.queue.getJob(jobIdFor("cap-1")))?.remove();
    expect(await handlers.capturePreAuth(capture, call)).toEqual(answer);
    expect((await queuedJob("cap-1"))?.name).toBe("settle-capture");

    expect(
      await codeOf(handlers.capturePreAuth({ ...capture, usage: { ...USAGE, outputTokens: 1n } }, call)),
    ).toBe("ALREADY_EXISTS");
    expect(await codeOf(handlers.capturePreAuth({ ...capture, requestId: "cap-2" }, call))).toBe(
      "FAILED_PRECONDITION",
    );
    expect(
      await codeOf(
        handlers.cancelPreAuth({ requestId: "cap-cx", preauthId: held.preauthId, reason: "" }, call),
      ),
    ).toBe("FAILED_PRECONDITION");
    const got = await handlers.getPreAuth({ preauthId: held.preauthId }, call);
    expect(got.preauth).toMatchObject({
      status: PreAuthStatus.PRE_AUTH_STATUS_CAPTURED,
      heldMicros: 600n,
      capturedCostMicros: 600n,
      priceVersion: 1n,
    });
  });

  it("cancels once, replays the cancel, and refuses capture of the cancelled hold", async () => {
    await fund("cx", 1_000n);
    const held = await handlers.preAuthorize(request("cx-auth", "cx"), call);
    const cancel = { requestId: "cx-1", preauthId: held.preauthId, reason: "client gave up" };
    const answer = await handlers.cancelPreAuth(cancel, call);
    expect(answer).toEqual({
      requestId: "cx-1",
      preauthId: held.preauthId,
      status: PreAuthStatus.PRE_AUTH_STATUS_CANCELLED,
      releasedMicros: 450n,
    });
    expect(await handlers.cancelPreAuth(cancel, call)).toEqual(answer);
    expect(await codeOf(handlers.cancelPreAuth({ ...cancel, reason: "other" }, call))).toBe("ALREADY_EXISTS");
    expect(
      await codeOf(
        handlers.capturePreAuth({ requestId: "cx-cap", preauthId: held.preauthId, usage: USAGE }, call),
      ),
    ).toBe("FAILED_PRECONDITION");
    expect(await queuedJob("cx-cap")).toBeUndefined();
    expect(await codeOf(handlers.cancelPreAuth({ ...cancel, preauthId: "pa_unknown" }, call))).toBe(
      "NOT_FOUND",
    );
    expect(await codeOf(handlers.getPreAuth({ preauthId: "pa_unknown" }, call))).toBe("NOT_FOUND");
    expect(await getBalance(ctx().db, "cx")).toMatchObject({ heldMicros: 0n, availableMicros: 1_000n });
  });

  it("charges the capture of an expired pre-auth and queues its settlement", async () => {
    await fund("late", 1_000n);
    const held = await handlers.preAuthorize(request("late-auth", "late"), call);
    await ctx().db.execute(
      sql`UPDATE preauths SET expires_at = now() - interval '1 second' WHERE preauth_id = ${held.preauthId}`,
    );
    expect(await expireDuePreauths(ctx().db, { limit: 10, actor: "sweeper" })).toBe(1);
    expect((await handlers.getPreAuth({ preauthId: held.preauthId }, call)).preauth?.status).toBe(
      PreAuthStatus.PRE_AUTH_STATUS_EXPIRED,
    );
    const answer = await handlers.capturePreAuth(
      { requestId: "late-cap", preauthId: held.preauthId, usage: USAGE },
      call,
    );
    expect(answer).toMatchObject({
      status: PreAuthStatus.PRE_AUTH_STATUS_CAPTURED,
      capturedCostMicros: 600n,
      releasedMicros: 0n,
    });
    expect((await queuedJob("late-cap"))?.data).toEqual({
      requestId: "late-cap",
      preauthId: held.preauthId,
      actor: "key00001",
    });
    // The expiry gave the estimate back; the capture holds its cost again until the settlement charges it.
    expect(await getBalance(ctx().db, "late")).toMatchObject({ heldMicros: 600n, balanceMicros: 1_000n });
  });
});
