import { status } from "@grpc/grpc-js";
import type { TrackTokensRequest } from "@heidrun/proto";
import { show } from "./books";
import { runPreAuth } from "./execute-preauth";
import {
  describe,
  expectedUsage,
  expectReplay,
  expectStatus,
  type FlowContext,
  priceOf,
} from "./flow-context";
import type { BatchFlow, CreditFlow, Flow, TrackFlow, TrackItem } from "./flows";

export type { FlowContext } from "./flow-context";

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
