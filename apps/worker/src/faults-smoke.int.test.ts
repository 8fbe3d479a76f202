import { setTimeout as sleep } from "node:timers/promises";
import { TrackTokensBatchRequest } from "@heidrun/proto";
import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NO_VIOLATIONS } from "../../../faults/harness/checkers";
import { runConcurrently } from "../../../faults/harness/client";
import { Cluster } from "../../../faults/harness/cluster";
import { creditAccounts, trackLoad } from "../../../faults/harness/load";
import { trackRequest } from "../../../faults/harness/workload";
import { WORKER_PROCESS } from "./test-support/worker-process";

/**
 * A representative slice of `npm run test:faults` (docs/reliability.md) small enough for `npm test`: an ingress
 * and two workers as processes over this file's database and a durable Redis of its own; a worker, the worker
 * that took over its jobs, and then Redis are killed with SIGKILL under load, then a duplicate storm; the checkers C1–C6 run after each. Workers run
 * with short BullMQ locks, so a killed worker's jobs come back in seconds instead of half a minute.
 */
const ctx = useTestContext();
let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({
    name: "smoke",
    databaseUrl: ctx().databaseUrl,
    // Batches wait 250 ms for company, so a job retaken after a kill stays active long enough for the harness
    // (which polls every 50 ms) to catch its worker holding it; at the default 25 ms a fast run slipped past.
    settings: { worker: { lingerMs: 250 } },
    workerCommand: {
      argv: [WORKER_PROCESS],
      env: {
        HEIDRUN_TEST_WORKER: JSON.stringify({ workerOptions: { lockDuration: 3000, stalledInterval: 1000 } }),
      },
    },
  });
  await Promise.all([cluster.startIngress(), cluster.startWorkers(2)]);
  await creditAccounts(cluster.client, "smoke");
}, 120_000);
afterAll(() => cluster?.close());

describe("faults smoke", () => {
  it("kill -9 of a worker mid-batch, then of the worker that took over its jobs: each settles once", async () => {
    const load = trackLoad(cluster.client, { prefix: "w9", events: 600, perCall: 10, concurrency: 6 });
    await cluster.untilSettled(100);
    expect((await cluster.jobCounts()).active).toBeGreaterThan(0);
    await cluster.liveWorkers()[0]!.kill();
    await cluster.killWhoeverRetookAStalledJob(30_000);
    await cluster.startWorkers(2);
    await load;
    await cluster.drain(30_000);
    expect(await cluster.mostStalls()).toBe(2);
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("kill -9 of Redis and a restart from its AOF: nothing acknowledged is lost", async () => {
    const load = trackLoad(cluster.client, { prefix: "aof", events: 400, concurrency: 8 });
    await cluster.untilSettled((await cluster.settledCount()) + 100);
    await cluster.redis.stop(true);
    await sleep(1000);
    await cluster.redis.restart();
    await load;
    await cluster.drain(30_000);
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("a duplicate storm: 1,000 events each sent 3× at once settle once", async () => {
    const batches = Array.from({ length: 10 }, (_, b) =>
      TrackTokensBatchRequest.fromPartial({
        items: Array.from({ length: 100 }, (_, i) => trackRequest(`storm-${b * 100 + i}`, b * 100 + i)),
      }),
    );
    await runConcurrently(30, 6, (i) => cluster.client.trackTokensBatch(batches[i % 10]!));
    await cluster.drain(30_000);
    const { rows } = await cluster.pool.query(
      "SELECT count(*)::int AS n FROM settlements WHERE status = 'settled' AND request_id LIKE 'storm-%'",
    );
    expect(rows[0].n).toBe(1000);
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });
});
