import { createDb, createPool } from "@heidrun/db";
import { createRedis } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDashboard } from "./run";
import {
  ADMIN_KEY,
  basicAuth,
  dashboardTestConfig,
  formFields,
  insertFailedSettlement,
  insertSettledSettlement,
  postRerun,
  startTestDashboard,
  type TestDashboard,
  YGGDRASIL_KEY,
} from "./test-support";

const ctx = useTestContext();
let dash: TestDashboard;
const ADMIN = { authorization: basicAuth(ADMIN_KEY) };
const NO_PRICE = "no price for provider acme, model m-9";

beforeAll(async () => {
  dash = await startTestDashboard(ctx());
  const { pool } = ctx();
  await insertSettledSettlement(pool, { requestId: "s-1", providerId: "openai", total: 450n, fee: 68n });
  await insertSettledSettlement(pool, {
    requestId: "s-2",
    providerId: "openai",
    total: 1_000_001n,
    fee: 150_000n,
  });
  await insertSettledSettlement(pool, { requestId: "s-3", providerId: "acme", total: 75n, fee: 11n });
  await insertFailedSettlement(pool, {
    requestId: "f-1",
    providerId: "acme",
    model: "m-9",
    reason: NO_PRICE,
  });
  await insertFailedSettlement(pool, {
    requestId: "f-2",
    providerId: "acme",
    model: "m-9",
    reason: NO_PRICE,
  });
  await insertFailedSettlement(pool, { requestId: "f-3", providerId: "zeta", model: "z", reason: "other" });
  await dash.producer.queue.add("track-usage", { requestId: "waiting-1" }, { jobId: "req~waiting-1" });
});
afterAll(async () => {
  await dash.close();
});

describe("dashboard HTTP", () => {
  it("asks for basic auth, refuses a non-admin key, and serves the overview to an admin key", async () => {
    const anonymous = await fetch(`${dash.url}/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe(
      'Basic realm="Heidrun dashboard", charset="UTF-8"',
    );
    expect((await fetch(`${dash.url}/queues`)).status).toBe(401);
    expect(
      (await fetch(`${dash.url}/`, { headers: { authorization: basicAuth("wrong-key-0123456789") } })).status,
    ).toBe(401);
    expect(
      (await fetch(`${dash.url}/`, { headers: { authorization: basicAuth(YGGDRASIL_KEY) } })).status,
    ).toBe(403);
    const page = await fetch(`${dash.url}/`, { headers: ADMIN });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain("Signed in as ops (admin key).");
    expect(text).not.toMatch(/https?:\/\/(?!www\.w3)/);
  });

  it("shows queues, exact sums settled today, failed groups, holds and the audit head", async () => {
    const text = await (await fetch(`${dash.url}/`, { headers: ADMIN })).text();
    expect(text).toMatch(/<tr data-queue="settlements">.*<td class="num">1<\/td><td class="num">0<\/td>/s);
    expect(text).toContain("req~waiting-1");
    // openai: 450 + 1,000,001 = 1,000,451 micros; fee 68 + 150,000 = 150,068; earnings 850,383.
    expect(text).toContain(
      '<tr data-provider="openai"><td>openai</td><td class="num">2</td><td class="num" title="1000451 micros">$1.000451</td><td class="num" title="150068 micros">$0.150068</td><td class="num" title="850383 micros">$0.850383</td></tr>',
    );
    expect(text).toContain('<td class="num" title="75 micros">$0.000075</td>');
    expect(text).toMatch(
      /<td class="mono">no price for provider acme, model m-9<\/td><td class="num">2<\/td><td>acme<\/td>/,
    );
    expect(text).toContain("Rerun 2</button>");
    expect(text).toMatch(/<section id="holds"><h2>Open holds<\/h2><p><span class="num">0<\/span> pending/);
    expect(text).toMatch(
      /<p id="awaiting-settlement"><span class="num">0<\/span> captures awaiting their settlement,\nholding <strong title="0 micros">\$0\.00<\/strong>\.<\/p>/,
    );
    expect(text).toMatch(
      /<section id="audit"><h2>Audit chain head<\/h2><p>seq <strong class="mono">0<\/strong>/,
    );
  });

  it("refuses a rerun POST without the CSRF token, from another origin, or with no origin at all", async () => {
    const { csrf, requestId } = await formFields(dash.url);
    const fields = { reason: NO_PRICE, request_id: requestId };
    const origin = { origin: dash.url };
    expect((await postRerun(dash.url, fields, origin)).status).toBe(403);
    expect((await postRerun(dash.url, { ...fields, csrf: "forged" }, origin)).status).toBe(403);
    expect((await postRerun(dash.url, { ...fields, csrf }, { origin: "http://evil.example" })).status).toBe(
      403,
    );
    expect((await postRerun(dash.url, { ...fields, csrf }, {})).status).toBe(403);
    const otherUser = await postRerun(
      dash.url,
      { ...fields, csrf },
      { ...origin, authorization: basicAuth(ADMIN_KEY, "eve") },
    );
    expect(otherUser.status).toBe(403);
    expect(await dash.producer.queue.getJobState("req~f-1~r1")).toBe("unknown");
    // Bull Board's own API: a change from another origin is refused before it reaches Bull Board.
    const retry = await fetch(`${dash.url}/queues/api/queues/settlements/retry/failed`, {
      method: "PUT",
      headers: { ...ADMIN, origin: "http://evil.example" },
    });
    expect(retry.status).toBe(403);
  });

  it("reruns a failed group with a valid token and shows what it did; the same form again replays", async () => {
    const { csrf, requestId } = await formFields(dash.url);
    const response = await postRerun(
      dash.url,
      { reason: NO_PRICE, request_id: requestId, csrf },
      { origin: dash.url },
    );
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`/?rerun=${requestId}`);
    expect(await dash.producer.queue.getJobState("req~f-1~r1")).toBe("waiting");
    expect(await dash.producer.queue.getJobState("req~f-2~r1")).toBe("waiting");
    expect(await dash.producer.queue.getJobState("req~f-3~r1")).toBe("unknown");
    const page = await (await fetch(`${dash.url}/?rerun=${requestId}`, { headers: ADMIN })).text();
    expect(page).toContain(`Rerun <span class="mono">${requestId}</span>: matched\n2, requeued 2.`);
    const again = await postRerun(
      dash.url,
      { reason: NO_PRICE, request_id: requestId, csrf },
      { origin: dash.url },
    );
    expect(again.status).toBe(303);
  });

  it("serves Bull Board's API over the settlement queue", async () => {
    const response = await fetch(`${dash.url}/queues/api/queues?activeQueue=settlements&status=waiting`, {
      headers: ADMIN,
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name)).toEqual(["settlements"]);
    const page = await (await fetch(`${dash.url}/queues`, { headers: ADMIN })).text();
    expect(page).toContain("<title>Heidrun queues</title>");
    expect(page).not.toContain("fonts.googleapis.com");
  });

  it("/metrics exposes queue, ledger and process series without auth", async () => {
    const response = await fetch(`${dash.url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    for (const line of [
      'heidrun_queue_up{process_role="dashboard"} 1',
      'heidrun_queue_jobs{queue="settlements",state="failed",process_role="dashboard"} 0',
      'heidrun_database_up{process_role="dashboard"} 1',
      'heidrun_failed_settlements{process_role="dashboard"} 3',
      'heidrun_open_holds{process_role="dashboard"} 0',
      'heidrun_preauths_recent{status="declined",process_role="dashboard"} 0',
    ]) {
      expect(text).toContain(line);
    }
    expect(text).toMatch(
      /heidrun_queue_jobs\{queue="settlements",state="waiting",process_role="dashboard"\} \d+/,
    );
    expect(text).toMatch(
      /heidrun_queue_oldest_waiting_seconds\{queue="settlements",process_role="dashboard"\} /,
    );
    expect(text).toMatch(/heidrun_audit_head_seq\{process_role="dashboard"\} \d+/);
    expect(text).toContain("heidrun_process_cpu_seconds_total");
  });

  it("/healthz answers 200 while Postgres and Redis answer, 503 naming what does not", async () => {
    const ok = await fetch(`${dash.url}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true, postgres: "ok", redis: "ok" });

    const deadRedis = createRedis("redis://127.0.0.1:1", "producer");
    const deadPool = createPool("postgres://postgres@127.0.0.1:1/none", { connectionTimeoutMs: 500 });
    const broken = await startTestDashboard(ctx(), { redis: deadRedis, db: createDb(deadPool) });
    try {
      const down = await fetch(`${broken.url}/healthz`);
      expect(down.status).toBe(503);
      const body = (await down.json()) as Record<string, unknown>;
      expect(body.ok).toBe(false);
      expect(body.postgres).not.toBe("ok");
      expect(body.redis).not.toBe("ok");
    } finally {
      await broken.close();
      deadRedis.disconnect();
      await deadPool.end();
    }
  });

  it("says so on the page when authentication is off", async () => {
    const open = await startTestDashboard(ctx(), { apiKeys: [] });
    try {
      const text = await (await fetch(`${open.url}/`)).text();
      expect(text).toContain('<p class="banner warn" id="auth-off"><strong>Authentication is off.</strong>');
    } finally {
      await open.close();
    }
  });

  it("runDashboard wires it from the configuration and stops on the signal", async () => {
    let stop: (signal: string) => void = () => {};
    const stopSignal = new Promise<string>((resolve) => (stop = resolve));
    let listening: (url: string) => void = () => {};
    const url = new Promise<string>((resolve) => (listening = resolve));
    const running = runDashboard(dashboardTestConfig(ctx()), { stopSignal, onListening: listening });
    const base = await Promise.race([url, running.then(() => Promise.reject(new Error("stopped early")))]);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('heidrun_failed_settlements{process_role="dashboard"} ');
    expect(metrics).toContain(
      'heidrun_queue_jobs{queue="settlements",state="waiting",process_role="dashboard"} ',
    );
    const page = await fetch(`${base}/`, { headers: ADMIN });
    expect(page.status).toBe(200);
    stop("SIGTERM");
    await running;
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});
