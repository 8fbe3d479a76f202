import { setTimeout as sleep } from "node:timers/promises";
import type { PriceVersion } from "@heidrun/core";
import {
  CancelPreAuthRequest,
  CapturePreAuthRequest,
  PreAuthorizeRequest,
  type PreAuthorizeResponse,
  SetPricingConfigRequest,
  TrackTokensBatchRequest,
  type TrackTokensBatchResponse,
  TrackTokensRequest,
} from "@heidrun/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { NO_VIOLATIONS } from "../harness/checkers";
import { type CallRecord, runConcurrently } from "../harness/client";
import { Cluster } from "../harness/cluster";
import { creditAccounts } from "../harness/load";
import { CLI_MAIN } from "../harness/processes";
import { ACCOUNTS, EFFECTIVE_FROM, PRICES, trackRequest, usageOf } from "../harness/workload";

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ name: "concurrency", postgresTemplate: inject("postgresTemplate") });
  await Promise.all([cluster.startIngress(), cluster.startWorkers(2)]);
  await creditAccounts(cluster.client, "concurrency");
});
afterAll(() => cluster?.close());

async function preauthStatuses(ids: string[]): Promise<Map<string, string>> {
  const { rows } = await cluster.pool.query(
    "SELECT preauth_id, status FROM preauths WHERE preauth_id = ANY($1)",
    [ids],
  );
  return new Map(rows.map((r) => [r.preauth_id as string, r.status as string]));
}

describe("concurrent requests race", () => {
  it("capture, cancel and expiry raced: one terminal state each, one release, a charge only for captures", async () => {
    const flows = 120;
    const held: CallRecord[] = [];
    await runConcurrently(flows, 12, async (n) => {
      const price = PRICES[n % PRICES.length]!;
      held[n] = await cluster.client.preAuthorize(
        PreAuthorizeRequest.fromPartial({
          requestId: `race-auth-${n}`,
          accountId: ACCOUNTS[n % ACCOUNTS.length]!,
          providerId: price.providerId,
          model: price.model,
          estimatedInputTokens: usageOf(n).inputTokens,
          maxOutputTokens: 4000n,
          ttlSeconds: 3,
        }),
      );
    });
    const answers = held.map((record) => record.response as PreAuthorizeResponse);
    expect(answers.filter((a) => a?.authorized)).toHaveLength(flows);
    // Around each expiry: capture and cancel together, one of them alone, or nothing (expiry wins alone).
    const outcomes: { capture?: CallRecord; cancel?: CallRecord }[] = [];
    await runConcurrently(flows, flows, async (n) => {
      const { preauthId, expiresAt } = answers[n]!;
      const offsetMs = [-1200, -300, 0, 300, 1200][n % 5]!;
      await sleep(Math.max(0, expiresAt!.getTime() + offsetMs - Date.now()));
      const mode = n % 4;
      const capture =
        mode === 3
          ? undefined
          : cluster.client.capturePreAuth(
              CapturePreAuthRequest.fromPartial({
                requestId: `race-capture-${n}`,
                preauthId,
                usage: usageOf(n),
              }),
            );
      const cancel =
        mode === 2
          ? undefined
          : cluster.client.cancelPreAuth(
              CancelPreAuthRequest.fromPartial({ requestId: `race-cancel-${n}`, preauthId, reason: "race" }),
            );
      outcomes[n] = {
        ...(capture ? { capture: await capture } : {}),
        ...(cancel ? { cancel: await cancel } : {}),
      };
    });
    // The sweeper has 5 s after an expiry; the last flow expires about now.
    await sleep(Math.max(0, Math.max(...answers.map((a) => a.expiresAt!.getTime())) + 6000 - Date.now()));
    const statuses = await preauthStatuses(answers.map((a) => a.preauthId));
    const wrong = answers.flatMap((answer, n) => {
      const { capture, cancel } = outcomes[n]!;
      const status = statuses.get(answer.preauthId);
      const captured = capture?.outcome === "ok";
      const cancelled = cancel?.outcome === "ok";
      const expected = captured ? "captured" : cancelled ? "cancelled" : "expired";
      const refusals = [capture, cancel].filter((c) => c && c.outcome !== "ok").map((c) => c!.code);
      const ok =
        !(captured && cancelled) && status === expected && refusals.every((c) => c === "FAILED_PRECONDITION");
      return ok ? [] : [`flow ${n}: capture ${capture?.code}, cancel ${cancel?.code}, status ${status}`];
    });
    expect(wrong).toEqual([]);
    const terminal = [...statuses.values()];
    expect(new Set(terminal)).toEqual(new Set(["captured", "cancelled", "expired"]));
    await cluster.drain();
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("two concurrent reruns of the same FAILED settlements settle each once", async () => {
    const unpriced = { providerId: "openai", model: "gpt-unpriced" };
    const events = 150;
    const items = Array.from({ length: events }, (_, n) =>
      TrackTokensRequest.fromPartial({ ...trackRequest(`rerun-${n}`, n), ...unpriced }),
    );
    for (let i = 0; i < events; i += 50) {
      await cluster.client.trackTokensBatch(
        TrackTokensBatchRequest.fromPartial({ items: items.slice(i, i + 50) }),
      );
    }
    await cluster.drain();
    const failed = await cluster.pool.query(
      "SELECT count(*)::int AS n FROM settlements WHERE status = 'failed' AND request_id LIKE 'rerun-%'",
    );
    expect(failed.rows[0].n).toBe(events);
    const price: PriceVersion = {
      ...PRICES[0]!,
      ...unpriced,
      inputMicrosPerMtok: 200_000n,
      outputMicrosPerMtok: 800_000n,
    };
    cluster.extraPrices.push(price);
    const set = await cluster.client.setPricingConfig(
      SetPricingConfigRequest.fromPartial({
        requestId: "rerun-price",
        price: {
          ...unpriced,
          inputMicrosPerMtok: price.inputMicrosPerMtok,
          outputMicrosPerMtok: price.outputMicrosPerMtok,
          cachedInputMicrosPerMtok: price.cachedInputMicrosPerMtok!,
          effectiveFrom: EFFECTIVE_FROM,
        },
      }),
    );
    expect(set.outcome).toBe("ok");
    // Every worker's price cache hears of the new version within a second.
    await sleep(2000);
    const reruns = ["a", "b"].map((name) =>
      cluster.spawn(`rerun-${name}`, [
        CLI_MAIN,
        "settlements",
        "rerun",
        "--provider",
        "openai",
        "--reason",
        "no price",
        "--wait",
        "0",
      ]),
    );
    for (const rerun of reruns) expect(await rerun.exited).toEqual({ code: 0, signal: null });
    await cluster.drain();
    const settled = await cluster.pool.query(
      "SELECT status, count(*)::int AS n FROM settlements WHERE request_id LIKE 'rerun-%' GROUP BY 1",
    );
    expect(settled.rows).toEqual([{ status: "settled", n: events }]);
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("a duplicate storm: 10,000 events each sent 3× at once are queued once and settled once", async () => {
    const events = 10_000;
    const perCall = 100;
    // Three copies of the stream, cut into batches at different places, so the repeats race across calls.
    const copies = [0, 37, 71].map((shift) => {
      const order = Array.from({ length: events }, (_, i) => (i + shift) % events);
      return Array.from({ length: events / perCall }, (_, b) =>
        TrackTokensBatchRequest.fromPartial({
          items: order.slice(b * perCall, (b + 1) * perCall).map((n) => trackRequest(`storm-${n}`, n)),
        }),
      );
    });
    const calls = copies[0]!.flatMap((_, b) => copies.map((copy) => copy[b]!));
    const records = new Array<CallRecord>(calls.length);
    await runConcurrently(calls.length, 12, async (i) => {
      records[i] = await cluster.client.trackTokensBatch(calls[i]!);
    });
    expect(records.filter((r) => r.outcome !== "ok")).toEqual([]);
    const news = new Map<string, number>();
    const retried = new Set<string>();
    for (const record of records) {
      if (record.attempts.length > 1) for (const id of record.requestIds) retried.add(id);
      for (const result of (record.response as TrackTokensBatchResponse).results) {
        news.set(result.requestId, (news.get(result.requestId) ?? 0) + (result.duplicate ? 0 : 1));
      }
    }
    // One of the three copies of each event was news, the others duplicates; when the news was lost to a
    // deadline, the retry is rightly answered as a duplicate too.
    expect(news.size).toBe(events);
    expect([...news].filter(([, n]) => n > 1)).toEqual([]);
    expect([...news].filter(([id, n]) => n === 0 && !retried.has(id))).toEqual([]);
    await cluster.drain(300_000);
    const settled = await cluster.pool.query(
      "SELECT count(*)::int AS n FROM settlements WHERE status = 'settled' AND request_id LIKE 'storm-%'",
    );
    expect(settled.rows[0].n).toBe(events);
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });
});
