import { status } from "@grpc/grpc-js";
import { estimatePreAuth, type PriceVersion } from "@heidrun/core";
import {
  DeclineReason,
  type PreAuthorizeRequest,
  type PreAuthorizeResponse,
  PreAuthStatus,
} from "@heidrun/proto";
import { show } from "./books";
import { costOf, expectReplay, expectStatus, type FlowContext, priceOf } from "./flow-context";
import { type PreAuthFlow, type TrackItem, targetKey } from "./flows";

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

export async function runPreAuth(ctx: FlowContext, flow: PreAuthFlow): Promise<void> {
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
