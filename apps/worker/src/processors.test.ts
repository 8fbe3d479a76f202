import { UnrecoverableError } from "bullmq";
import { describe, expect, it } from "vitest";
import { settleItemOfJob } from "./processors";

const usage = { inputTokens: "1000", outputTokens: "500", cachedInputTokens: "100", cacheWriteTokens: "0" };
const track = {
  requestId: "ygg:1",
  accountId: "acct-1",
  providerId: "openai",
  model: "gpt-4o-mini",
  usage,
  occurredAt: "2026-03-01T10:15:00.000Z",
  actor: "key-1",
};

function failure(name: string, data: unknown): UnrecoverableError {
  try {
    settleItemOfJob(name, data);
  } catch (error) {
    expect(error).toBeInstanceOf(UnrecoverableError);
    return error as UnrecoverableError;
  }
  throw new Error("expected an UnrecoverableError");
}

describe("settleItemOfJob", () => {
  it("turns each catalog job into what the batch writer settles", () => {
    expect(settleItemOfJob("track-usage", track)).toEqual({
      kind: "usage",
      requestId: "ygg:1",
      accountId: "acct-1",
      providerId: "openai",
      model: "gpt-4o-mini",
      usage: { inputTokens: 1000n, outputTokens: 500n, cachedInputTokens: 100n, cacheWriteTokens: 0n },
      occurredAt: new Date("2026-03-01T10:15:00.000Z"),
      actor: "key-1",
    });
    expect(
      settleItemOfJob("settle-capture", { requestId: "cap-1", preauthId: "pa_1", actor: "key-1" }),
    ).toEqual({
      kind: "capture",
      requestId: "cap-1",
      preauthId: "pa_1",
      actor: "key-1",
    });
  });

  it("fails a job no retry can fix at once, naming what is wrong", () => {
    expect(failure("bill-everyone", track).message).toBe('unknown job name "bill-everyone"');
    expect(failure("track-usage", { ...track, usage: { ...usage, outputTokens: "-1" } }).message).toBe(
      "invalid track-usage job: usage.outputTokens: must be a non-negative decimal integer",
    );
    expect(
      failure("track-usage", { ...track, usage: { ...usage, cachedInputTokens: "2000" } }).message,
    ).toMatch(/^invalid track-usage job: usage.cached_input_tokens: /);
    expect(failure("track-usage", { ...track, accountId: "has space" }).message).toMatch(
      /^invalid track-usage job: accountId: /,
    );
    expect(failure("settle-capture", { requestId: "cap-1", actor: "key-1" }).message).toMatch(
      /^invalid settle-capture job: preauthId: /,
    );
  });
});
