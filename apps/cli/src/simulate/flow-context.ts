import { status } from "@grpc/grpc-js";
import { calculateCost, type PriceVersion } from "@heidrun/core";
import { type Books, type ExpectedSettlement, sameMessage, show } from "./books";
import { type Answer, type HeidrunClient, statusName } from "./client";
import { type TrackItem, targetKey } from "./flows";
import type { PriceBook } from "./prices";

export interface FlowContext {
  client: HeidrunClient;
  prices: PriceBook;
  books: Books;
  /** Counts what happened in business terms (authorized, declined, duplicate, …) for the summary. */
  outcome: (name: string) => void;
}

export function describe(answer: Answer<unknown>): string {
  return answer.ok ? `OK ${show(answer.response)}` : `${statusName(answer.code)} (${answer.message})`;
}

export function expectStatus(ctx: FlowContext, what: string, answer: Answer<unknown>, code: status): boolean {
  const got = answer.ok ? status.OK : answer.code;
  if (got === code) return true;
  ctx.books.differ(`${what}: expected ${statusName(code)}, got ${describe(answer)}`);
  return false;
}

export function priceOf(ctx: FlowContext, target: TrackItem["target"]): PriceVersion | undefined {
  return ctx.prices.prices.get(targetKey(target));
}

export function costOf(ctx: FlowContext, usage: TrackItem["usage"], price: PriceVersion): bigint {
  return calculateCost(usage, price, ctx.prices.roundingIncrementMicros).totalCostMicros;
}

export function expectedUsage(ctx: FlowContext, item: TrackItem): ExpectedSettlement {
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
export async function expectReplay<Res>(
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
