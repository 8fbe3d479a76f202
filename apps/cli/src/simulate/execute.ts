import { status } from "@grpc/grpc-js";
import { calculateCost, estimatePreAuth, type PriceVersion } from "@heidrun/core";
import {
  DeclineReason,
  type PreAuthorizeRequest,
  type PreAuthorizeResponse,
  PreAuthStatus,
  type TrackTokensRequest,
} from "@heidrun/proto";
import { type Books, type ExpectedSettlement, sameMessage, show } from "./books";
import { type Answer, type HeidrunClient, statusName } from "./client";
import {
  type BatchFlow,
  type CreditFlow,
  type Flow,
  type PreAuthFlow,
  type TrackFlow,
  type TrackItem,
  targetKey,
} from "./flows";
import type { PriceBook } from "./prices";

export interface FlowContext {
  client: HeidrunClient;
  prices: PriceBook;
  books: Books;
  /** Counts what happened in business terms (authorized, declined, duplicate, …) for the summary. */
  outcome: (name: string) => void;
}

function describe(answer: Answer<unknown>): string {
  return answer.ok ? `OK ${show(answer.response)}` : `${statusName(answer.code)} (${answer.message})`;
}

function expectStatus(ctx: FlowContext, what: string, answer: Answer<unknown>, code: status): boolean {
  const got = answer.ok ? status.OK : answer.code;
  if (got === code) return true;
  ctx.books.differ(`${what}: expected ${statusName(code)}, got ${describe(answer)}`);
  return false;
}

function priceOf(ctx: FlowContext, target: TrackItem["target"]): PriceVersion | undefined {
  return ctx.prices.prices.get(targetKey(target));
}

function costOf(ctx: FlowContext, usage: TrackItem["usage"], price: PriceVersion): bigint {
  return calculateCost(usage, price, ctx.prices.roundingIncrementMicros).totalCostMicros;
}

function expectedUsage(ctx: FlowContext, item: TrackItem): ExpectedSettlement {
  const price = priceOf(ctx, item.target);
  return {
    requestId: item.requestId,
    accountId: item.accountId,
    providerId: item.target.providerId,
    model: item.target.model,
    usage: item.usage,
    status: price ? "settled" : "failed",
    totalCostMicros: price ? costOf(ctx, item.usage, price) : 0n,
  };
}

/** A repeat with the same request_id must get the first answer again. */
async function expectReplay<Res>(
  ctx: FlowContext,
  what: string,
  first: Res,
  again: () => Promise<Answer<Res>>,
): Promise<void> {
  const answer = await again();
  ctx.outcome("repeat");
  if (!answer.ok || !sameMessage(answer.response, first)) {
    ctx.books.differ(`${what} repeated: expected the first answer ${show(first)}, got ${describe(answer)}`);
  }
}

async function runCredit(ctx: FlowContext, flow: CreditFlow): Promise<void> {
  const { client } = ctx;
  const request = {
    requestId: flow.requestId,
    accountId: flow.accountId,
    amountMicros: flow.amountMicros,
    reference: flow.setup ? "simulator funding" : "simulator top-up",
  };
  const send = () =>
    client.call("account.creditAccount", client.account.creditAccount.bind(client.account), request);
  const answer = await send();
  if (!expectStatus(ctx, `${flow.requestId} CreditAccount`, answer, status.OK) || !answer.ok) return;
  ctx.books.credit(flow.accountId, flow.amountMicros);
  ctx.outcome("credited");
  if (flow.repeat) await expectReplay(ctx, `${flow.requestId} CreditAccount`, answer.response, send);
}

async function runTrack(ctx: FlowContext, flow: TrackFlow): Promise<void> {
  const { client, books } = ctx;
  const { item } = flow;
  const request = trackRequest(item);
  const send = (usage = item.usage) =>
    client.call("token.trackTokens", client.token.trackTokens.bind(client.token), { ...request, usage });
  const what = `${item.requestId} TrackTokens`;
  const answer = await send();
  if (!expectStatus(ctx, what, answer, status.OK) || !answer.ok) return;
  // A retried transport failure may have queued the first attempt: then "duplicate" is the right answer.
  if (!answer.response.accepted || (answer.response.duplicate && answer.attempts === 1)) {
    books.differ(`${what}: expected accepted and new, got ${show(answer.response)}`);
  }
  books.expect(expectedUsage(ctx, item));
  ctx.outcome(priceOf(ctx, item.target) ? "tracked" : "tracked_unpriced");
  if (flow.repeat) {
    const again = await send();
    ctx.outcome("repeat");
    if (!again.ok || !again.response.accepted || !again.response.duplicate) {
      books.differ(`${what} repeated: expected accepted and duplicate, got ${describe(again)}`);
    }
  }
  if (flow.conflict) {
    const conflicting = await send(flow.conflict);
    ctx.outcome("conflict");
    expectStatus(ctx, `${what} with other usage`, conflicting, status.ALREADY_EXISTS);
  }
}

async function runBatch(ctx: FlowContext, flow: BatchFlow): Promise<void> {
  const { client, books } = ctx;
  const items = flow.items.map(trackRequest);
  const what = `${flow.items[0]?.requestId ?? flow.index} TrackTokensBatch`;
  const answer = await client.call(
    "token.trackTokensBatch",
    client.token.trackTokensBatch.bind(client.token),
    { items },
  );
  if (!expectStatus(ctx, what, answer, status.OK) || !answer.ok) return;
  const results = answer.response.results;
  if (results.length !== items.length) {
    books.differ(`${what}: ${items.length} items, ${results.length} results`);
  }
  flow.items.forEach((item, i) => {
    const result = results[i];
    const fresh = result?.accepted && (!result.duplicate || answer.attempts > 1);
    if (!fresh || result?.requestId !== item.requestId) {
      books.differ(`${what} item ${i}: expected ${item.requestId} accepted and new, got ${show(result)}`);
    }
    books.expect(expectedUsage(ctx, item));
  });
  ctx.outcome("batches");
}

function trackRequest(item: TrackItem): TrackTokensRequest {
  return {
    requestId: item.requestId,
    accountId: item.accountId,
    providerId: item.target.providerId,
    model: item.target.model,
    usage: item.usage,
    occurredAt: undefined,
  };
}

function preAuthRequest(flow: PreAuthFlow): PreAuthorizeRequest {
  const a = flow.authorize;
  return {
    requestId: a.requestId,
    accountId: a.accountId,
    providerId: a.target.providerId,
    model: a.target.model,
    estimatedInputTokens: "estimatedInputTokens" in a.ask ? a.ask.estimatedInputTokens : 0n,
    maxOutputTokens: a.maxOutputTokens,
    promptText: "promptText" in a.ask ? a.ask.promptText : "",
    messages: "messages" in a.ask ? a.ask.messages : [],
    ttlSeconds: a.ttlSeconds,
  };
}

const DECLINE_EXPECTED: Partial<Record<PreAuthFlow["intent"], DeclineReason>> = {
  overdraw: DeclineReason.DECLINE_REASON_INSUFFICIENT_FUNDS,
  "unknown-account": DeclineReason.DECLINE_REASON_UNKNOWN_ACCOUNT,
};

/** Checks the answer of PreAuthorize; returns the held pre-authorization when the flow goes on. */
function checkAuthorized(
  ctx: FlowContext,
  flow: PreAuthFlow,
  price: PriceVersion,
  r: PreAuthorizeResponse,
): boolean {
  const a = flow.authorize;
  const what = `${a.requestId} PreAuthorize`;
  if ("estimatedInputTokens" in a.ask) {
    const increment = ctx.prices.roundingIncrementMicros;
    const estimate = estimatePreAuth(a.ask.estimatedInputTokens, a.maxOutputTokens, price, increment);
    if (r.estimatedCostMicros !== estimate.totalCostMicros) {
      ctx.books.differ(
        `${what}: estimate ${r.estimatedCostMicros}, expected ${estimate.totalCostMicros} micros`,
      );
    }
  }
  if (r.priceVersion !== price.version) {
    ctx.books.differ(`${what}: price version ${r.priceVersion}, the simulator priced with ${price.version}`);
  }
  const decline = DECLINE_EXPECTED[flow.intent];
  if (decline !== undefined) {
    if (r.authorized || r.declineReason !== decline) {
      ctx.books.differ(`${what}: expected a decline (${DeclineReason[decline]}), got ${show(r)}`);
    }
    ctx.outcome("declined");
    return false;
  }
  if (!r.authorized) {
    // Funds run low in a long run: a decline is an answer, not a difference, unless it is for a funded account.
    if (r.declineReason === DeclineReason.DECLINE_REASON_UNKNOWN_ACCOUNT) {
      ctx.books.differ(`${what}: declined as an unknown account, but the simulator funded it`);
    }
    ctx.outcome("declined");
    return false;
  }
  ctx.outcome("authorized");
  return true;
}

async function runPreAuth(ctx: FlowContext, flow: PreAuthFlow): Promise<void> {
  const { client, books } = ctx;
  const a = flow.authorize;
  const price = priceOf(ctx, a.target);
  const request = preAuthRequest(flow);
  const what = `${a.requestId} PreAuthorize`;
  const send = () =>
    client.call("preauth.preAuthorize", client.preauth.preAuthorize.bind(client.preauth), request);
  const answer = await send();
  if (!price) {
    expectStatus(ctx, `${what} of ${targetKey(a.target)} (no price)`, answer, status.NOT_FOUND);
    ctx.outcome("not_found");
    return;
  }
  if (!expectStatus(ctx, what, answer, status.OK) || !answer.ok) return;
  const r = answer.response;
  if (a.repeat) await expectReplay(ctx, what, r, send);
  if (!checkAuthorized(ctx, flow, price, r)) return;

  const ending = flow.ending;
  const capture = (requestId: string, usage: TrackItem["usage"]) =>
    client.call("preauth.capturePreAuth", client.preauth.capturePreAuth.bind(client.preauth), {
      requestId,
      preauthId: r.preauthId,
      usage,
    });
  if (ending.type === "capture") {
    const cost = costOf(ctx, ending.usage, price);
    const captured = await capture(ending.requestId, ending.usage);
    const whatCapture = `${ending.requestId} CapturePreAuth`;
    if (!expectStatus(ctx, whatCapture, captured, status.OK) || !captured.ok) return;
    const released = r.estimatedCostMicros > cost ? r.estimatedCostMicros - cost : 0n;
    const c = captured.response;
    if (
      c.status !== PreAuthStatus.PRE_AUTH_STATUS_CAPTURED ||
      c.capturedCostMicros !== cost ||
      c.releasedMicros !== released
    ) {
      books.differ(`${whatCapture}: expected CAPTURED ${cost} released ${released}, got ${show(c)}`);
    }
    books.expect({
      requestId: ending.requestId,
      accountId: a.accountId,
      providerId: a.target.providerId,
      model: a.target.model,
      usage: ending.usage,
      status: "settled",
      totalCostMicros: cost,
      preauthId: r.preauthId,
    });
    ctx.outcome(cost > r.estimatedCostMicros ? "captured_above_estimate" : "captured");
    if (ending.repeat) await expectReplay(ctx, whatCapture, c, () => capture(ending.requestId, ending.usage));
  } else if (ending.type === "cancel") {
    const cancel = () =>
      client.call("preauth.cancelPreAuth", client.preauth.cancelPreAuth.bind(client.preauth), {
        requestId: ending.requestId,
        preauthId: r.preauthId,
        reason: ending.reason,
      });
    const whatCancel = `${ending.requestId} CancelPreAuth`;
    const cancelled = await cancel();
    if (!expectStatus(ctx, whatCancel, cancelled, status.OK) || !cancelled.ok) return;
    const c = cancelled.response;
    if (c.status !== PreAuthStatus.PRE_AUTH_STATUS_CANCELLED || c.releasedMicros !== r.estimatedCostMicros) {
      books.differ(`${whatCancel}: expected CANCELLED released ${r.estimatedCostMicros}, got ${show(c)}`);
    }
    ctx.outcome("cancelled");
    if (ending.repeat) await expectReplay(ctx, whatCancel, c, cancel);
    if (ending.lateCapture) {
      const late = await capture(ending.lateCapture.requestId, ending.lateCapture.usage);
      expectStatus(
        ctx,
        `${ending.lateCapture.requestId} CapturePreAuth after cancel`,
        late,
        status.FAILED_PRECONDITION,
      );
      ctx.outcome("late_capture_refused");
    }
  } else if (ending.type === "expire") {
    books.expiries.push({ preauthId: r.preauthId, accountId: a.accountId });
    ctx.outcome("left_to_expire");
  }
}

/** Runs one flow's calls in order, checking every answer and writing what it expects into the books. */
export function runFlow(ctx: FlowContext, flow: Flow): Promise<void> {
  switch (flow.kind) {
    case "credit":
      return runCredit(ctx, flow);
    case "track":
      return runTrack(ctx, flow);
    case "batch":
      return runBatch(ctx, flow);
    case "preauth":
      return runPreAuth(ctx, flow);
  }
}
