import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { NO_VIOLATIONS } from "../harness/checkers";
import { Cluster } from "../harness/cluster";
import { creditAccounts, preAuthLoad, trackLoad } from "../harness/load";

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ name: "postgres", postgresTemplate: inject("postgresTemplate") });
  await Promise.all([cluster.startIngress(), cluster.startWorkers(2)]);
  await creditAccounts(cluster.client, "postgres");
});
afterAll(() => cluster?.close());

function workerLogs(): string {
  return cluster.workers.map((w) => w.log()).join("\n");
}

describe("PostgreSQL fails", () => {
  it("SIGSTOP for 30 s under load: usage is still accepted, and everything settles once after", async () => {
    const loads = Promise.all([
      trackLoad(cluster.client, { prefix: "pause", events: 3000, perCall: 10, concurrency: 6 }),
      preAuthLoad(cluster.client, { prefix: "pause", flows: 240, concurrency: 6 }),
    ]);
    await cluster.untilSettled((await cluster.settledCount()) + 300);
    const frozen = cluster.postgres!.pause();
    const pausedAt = Date.now();
    // Usage sent while the system of record sleeps is taken by the queue. Sent here, not left to the load
    // above, which a fast machine may have finished before the pause.
    await trackLoad(cluster.client, { prefix: "paused", events: 500, perCall: 10, concurrency: 4 });
    const sentMeanwhile = cluster.client.records.filter(
      (r) => r.method === "TrackTokensBatch" && r.requestIds[0]!.startsWith("paused-"),
    );
    expect(sentMeanwhile.length).toBeGreaterThanOrEqual(50);
    expect(sentMeanwhile.filter((r) => r.outcome !== "ok" || r.endedAt! >= pausedAt + 29_000)).toEqual([]);
    await sleep(Math.max(0, pausedAt + 30_000 - Date.now()));
    cluster.postgres!.resume(frozen);
    await loads;
    await cluster.drain();
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("an immediate stop mid-batch: the batch rolls back whole, the pools reconnect, every job settles once", async () => {
    const loads = Promise.all([
      trackLoad(cluster.client, { prefix: "crash", events: 3000, perCall: 10, concurrency: 6 }),
      preAuthLoad(cluster.client, { prefix: "crash", flows: 240, concurrency: 6 }),
    ]);
    await cluster.untilSettled((await cluster.settledCount()) + 300);
    cluster.postgres!.stop("immediate");
    await sleep(3000);
    cluster.postgres!.start();
    await loads;
    await cluster.drain();
    expect(workerLogs()).toMatch(/settlement batch failed transiently; jobs will retry/);
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });
});
