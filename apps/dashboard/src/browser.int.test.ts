import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PriceCache, priceChannel, setPrice } from "@heidrun/db";
import { createRegistry, silentLogger } from "@heidrun/observability";
import { jobIdFor } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { createWorker, type SettlementWorker } from "@heidrun/worker";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, dashboardTestConfig, startTestDashboard, type TestDashboard } from "./test-support";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = fileURLToPath(new URL("../../../docs/dashboard.png", import.meta.url));
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];
const REQUESTS = ["use-1", "use-2", "use-3"];

const ctx = useTestContext();
let dash: TestDashboard;
let worker: SettlementWorker;
let cache: PriceCache;
let browser: BrowserContext | undefined;
let profile: string;
/** Jobs the worker finished (completed or failed for good), by request id, in order; `until` awaits a count. */
const finished: { requestId: string; outcome: "completed" | "failed" }[] = [];
let wake: () => void = () => {};
async function until(count: number): Promise<void> {
  while (finished.length < count) await new Promise<void>((resolve) => (wake = resolve));
}

/** Launches Debian's Chromium with a fresh profile. A missing browser fails the test, never skips it. */
async function launchChromium(): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}; install it (as root): apt-get update && apt-get install -y chromium`,
    );
  }
  profile = mkdtempSync(join(tmpdir(), "heidrun-chromium-"));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    httpCredentials: { username: "ops", password: ADMIN_KEY },
    viewport: { width: 1280, height: 900 },
  });
}

beforeAll(async () => {
  dash = await startTestDashboard(ctx());
  cache = new PriceCache({
    db: ctx().db,
    channel: priceChannel(ctx().redisPrefix),
    refreshIntervalMs: 60_000,
  });
  worker = createWorker({
    config: dashboardTestConfig(ctx()),
    log: silentLogger(),
    registry: createRegistry(),
    pool: ctx().pool,
    db: ctx().db,
    connection: ctx().newRedis({ forWorker: true }),
    priceCache: cache,
  });
  worker.worker.on("completed", (job) => {
    finished.push({ requestId: job.data.requestId, outcome: "completed" });
    wake();
  });
  worker.worker.on("failed", (job) => {
    if (job?.finishedOn === undefined) return;
    finished.push({ requestId: job.data.requestId, outcome: "failed" });
    wake();
  });
  await worker.start();
  const occurredAt = new Date().toISOString();
  // Usage of a model without a price: each settles as FAILED and its job lands in the failed set.
  await dash.producer.enqueueWithoutWindow(
    REQUESTS.map((requestId) => ({
      requestId,
      job: {
        name: "track-usage" as const,
        data: {
          requestId,
          accountId: "acct-browser",
          providerId: "acme",
          model: "acme-large",
          usage: {
            inputTokens: "1000000",
            outputTokens: "250000",
            cachedInputTokens: "0",
            cacheWriteTokens: "0",
          },
          occurredAt,
          actor: "test",
        },
      },
    })),
  );
  await until(REQUESTS.length);
});
afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await worker?.stop();
  await dash?.close();
});

describe("dashboard in headless Chromium", () => {
  it("logs in, shows the queue in Bull Board, reruns a failed group and shows it settled", async () => {
    browser = await launchChromium();
    expect(finished.map((f) => f.outcome)).toEqual(["failed", "failed", "failed"]);
    const page = await browser.newPage();
    const external: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(dash.url)) external.push(request.url());
    });

    await page.goto(`${dash.url}/queues`);
    await page.getByText("settlements", { exact: true }).first().waitFor();

    await page.goto(`${dash.url}/`);
    const group = page.locator("tr.failed-group", { hasText: "acme-large" });
    await expect(group.locator("td.num").textContent()).resolves.toBe("3");
    await expect(page.locator('tr[data-queue="settlements"] td.num').nth(3).textContent()).resolves.toBe("3");

    // The missing price arrives ($2 in, $8 out per Mtok), then the operator presses the button.
    const price = await setPrice(
      ctx().db,
      {
        providerId: "acme",
        model: "acme-large",
        inputMicrosPerMtok: 2_000_000n,
        outputMicrosPerMtok: 8_000_000n,
        effectiveFrom: new Date("2020-01-01Z"),
      },
      { requestId: "price-acme", actor: "test" },
    );
    cache.add(price.price);
    await group.getByRole("button", { name: "Rerun 3" }).click();
    await page.locator("#rerun-result").waitFor();
    expect(await page.locator("#rerun-result").textContent()).toMatch(/matched\s+3, requeued 3\./);

    await until(REQUESTS.length * 2);
    expect(finished.slice(3).map((f) => f.outcome)).toEqual(["completed", "completed", "completed"]);
    // The failed jobs were retried in place (no second job per request).
    for (const requestId of REQUESTS) {
      expect(await dash.producer.queue.getJobState(jobIdFor(requestId))).toBe("completed");
    }
    await page.reload();
    await expect(page.locator("#failed").textContent()).resolves.toContain("No failed settlements.");
    // 1M in × $2 + 0.25M out × $8 = $4.00 each, $12.00 for three; 15 % fee $1.80, earnings $10.20.
    await expect(page.locator('tr[data-provider="acme"] td').allTextContents()).resolves.toEqual([
      "acme",
      "3",
      "$12.00",
      "$1.80",
      "$10.20",
    ]);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(external).toEqual([]);
  });
});
