import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { NO_VIOLATIONS, runCheckers } from "../harness/checkers";
import type { CallRecord } from "../harness/client";
import { Cluster } from "../harness/cluster";
import { creditAccounts, preAuthLoad, trackLoad } from "../harness/load";
import { PRICES, trackRequest } from "../harness/workload";

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ name: "crashes", postgresTemplate: inject("postgresTemplate") });
  await Promise.all([cluster.startIngress(), cluster.startWorkers(2)]);
  await creditAccounts(cluster.client, "crashes");
});
afterAll(() => cluster?.close());

/** Active job ids once the queue has settled into what is stuck: nothing waiting, the same jobs active twice. */
async function stuckActiveJobs(): Promise<string[]> {
  let previous = "";
  for (let round = 0; round < 120; round++) {
    const counts = await cluster.jobCounts();
    const active = (await cluster.queue.getActive()).map((job) => job.id!).sort();
    const key = active.join(",");
    if (counts.waiting === 0 && key === previous) return active;
    previous = key;
    await sleep(1000);
  }
  throw new Error("the queue never settled");
}

describe("Heidrun's own processes crash", () => {
  it("kill -9 of a worker mid-batch, then of the worker that took over its jobs: each settles once", async () => {
    const load = trackLoad(cluster.client, { prefix: "w9", events: 3000, perCall: 10, concurrency: 8 });
    await cluster.untilSettled(500);
    expect((await cluster.jobCounts()).active).toBeGreaterThan(0);
    await cluster.liveWorkers()[0]!.kill();
    await cluster.killWhoeverRetookAStalledJob();
    await cluster.startWorkers(2);
    await load;
    await cluster.drain();
    expect(await cluster.mostStalls()).toBe(2);
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("kill -9 of the ingress under load: the client's retries resolve every call", async () => {
    let stop = false;
    const loads = Promise.all([
      trackLoad(cluster.client, { prefix: "i9", events: 1500, concurrency: 12 }),
      preAuthLoad(cluster.client, { prefix: "i9", flows: 300, concurrency: 6 }),
    ]);
    await cluster.untilSettled((await cluster.settledCount()) + 300);
    await cluster.ingress!.kill();
    await cluster.startIngress();
    await loads;
    stop = true;
    expect(stop).toBe(true);
    const retried = cluster.client.records.filter((r) => r.attempts.length > 1 && r.seq > 0);
    expect(retried.length).toBeGreaterThan(0);
    await cluster.drain();
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  it("a worker frozen past its BullMQ lock: its jobs run elsewhere, and its late batch changes nothing", async () => {
    const [frozen] = cluster.liveWorkers();
    const load = trackLoad(cluster.client, { prefix: "lock", events: 2000, perCall: 20, concurrency: 6 });
    await cluster.untilSettled((await cluster.settledCount()) + 200);
    // SIGSTOP stands in for a blocked event loop: no timer runs, so the lock is not renewed.
    frozen!.signal("SIGSTOP");
    await load;
    const stuck = await stuckActiveJobs();
    expect(stuck.length).toBeGreaterThan(0);
    // Wait until the other worker found them stalled and took them over (or they sit behind the frozen batch's row locks).
    for (let round = 0; round < 150; round++) {
      const jobs = await Promise.all(stuck.map((id) => cluster.queue.getJob(id)));
      if (jobs.every((job) => job && (job.stalledCounter > 0 || job.finishedOn))) break;
      await sleep(1000);
    }
    const retaken = await Promise.all(stuck.map((id) => cluster.queue.getJob(id)));
    expect(retaken.filter((job) => job && (job.stalledCounter > 0 || job.finishedOn)).length).toBe(
      stuck.length,
    );
    frozen!.signal("SIGCONT");
    await cluster.drain();
    expect(await cluster.check()).toEqual(NO_VIOLATIONS);
  });

  // Last: it tampers with the books, to show the checkers are not blind.
  it("the checkers see a lost job, an unresolved call, a drifted balance and a rewritten audit record", async () => {
    const { pool } = cluster;
    const balance = async () =>
      (await pool.query("SELECT balance_micros FROM accounts WHERE account_id = 'acct-0'")).rows[0]
        .balance_micros as bigint;
    const before = await balance();
    await pool.query("UPDATE accounts SET balance_micros = balance_micros + 1 WHERE account_id = 'acct-0'");
    // As a superuser in replica mode the append-only trigger does not fire (no table lock, unlike DISABLE TRIGGER).
    const forger = await pool.connect();
    try {
      await forger.query("SET session_replication_role = replica");
      await forger.query("UPDATE audit_events SET payload = payload || ' ' WHERE seq = 3");
    } finally {
      await forger.query("RESET session_replication_role");
      forger.release();
    }
    const fake = (
      seq: number,
      requestId: string,
      outcome: CallRecord["outcome"],
      code: string,
    ): CallRecord => ({
      seq,
      method: "TrackTokens",
      requestIds: [requestId],
      request: { ...trackRequest(requestId, 1), accountId: "ghost-acct" },
      attempts: [{ code, at: 0, ms: 1 }],
      outcome,
      code,
      ...(outcome === "ok" ? { response: { requestId, accepted: true, duplicate: false } } : {}),
      startedAt: 0,
    });
    const records = [
      ...cluster.client.records,
      fake(1e9, "ghost-1", "ok", "OK"),
      fake(1e9 + 1, "ghost-2", "unresolved", "UNAVAILABLE"),
    ];
    const found = await runCheckers({
      pool,
      db: cluster.db,
      records,
      prices: PRICES,
      settings: cluster.settings,
    });
    expect(found.C1).toEqual(["1 acknowledged request(s) never settled: ghost-1"]);
    expect(found.C2).toEqual([]);
    expect(found.C3).toEqual([`acct-0: balance ${before + 1n}, credits − settled = ${before}`]);
    expect(found.C4).toHaveLength(1);
    expect(found.C4[0]).toMatch(
      /^audit chain broken at seq 3: hash mismatch: seq 3 stores hash [0-9a-f]{64} but its contents hash to [0-9a-f]{64}$/,
    );
    expect(found.C5).toEqual([
      "1 call(s) never got a definite answer: TrackTokens ghost-2 (UNAVAILABLE)",
      "1 retried call(s) ended unknown",
    ]);
    expect(found.C6).toContain(`acct-0: balance ${before + 1n}, model ${before}`);
    expect(
      found.C6.filter((line) => /^ghost-acct: no account row, model balance -\d+$/.test(line)),
    ).toHaveLength(1);
  });
});
