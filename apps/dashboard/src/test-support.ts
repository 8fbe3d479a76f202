import { createHash } from "node:crypto";
import { type ApiKey, type ConfigStore, configStoreFor } from "@heidrun/config";
import { type Db, SettlementRequeuer } from "@heidrun/db";
import { createRegistry, type Logger, silentLogger } from "@heidrun/observability";
import { SettlementProducer } from "@heidrun/queue";
import type { TestContext } from "@heidrun/testing";
import type { Redis } from "ioredis";
import type pg from "pg";
import { createDashboardApp, type DashboardDeps } from "./app";
import { listen, registerDashboardMetrics } from "./run";

export const ADMIN_KEY = "admin-key-0123456789abcdef";
export const YGGDRASIL_KEY = "yggdrasil-key-0123456789";

function apiKey(key: string, scope: ApiKey["scope"]): ApiKey {
  return { id: createHash("sha256").update(key).digest("hex").slice(0, 8), key, scope };
}

export const TEST_KEYS: ApiKey[] = [apiKey(ADMIN_KEY, "admin"), apiKey(YGGDRASIL_KEY, "yggdrasil")];

export function dashboardTestConfig(
  ctx: TestContext,
  apiKeys: ApiKey[] = TEST_KEYS,
  csrfSecret?: string,
): ConfigStore {
  return configStoreFor(
    ctx,
    {
      queue: { prefix: ctx.redisPrefix, attempts: 3, backoffMs: 100 },
      worker: { batchSize: 100, lingerMs: 10, concurrency: 50, shutdownGraceMs: 5000 },
      redis: { durabilityCheck: "off" },
    },
    { apiKeys, dashboardCsrfSecret: csrfSecret },
  );
}

export interface TestDashboard {
  url: string;
  deps: DashboardDeps;
  producer: SettlementProducer;
  close(): Promise<void>;
}

/** A dashboard on 127.0.0.1 with a free port, over the test's database and queue prefix. */
export async function startTestDashboard(
  ctx: TestContext,
  options: { apiKeys?: ApiKey[]; redis?: Redis; db?: Db; csrfSecret?: string; log?: Logger } = {},
): Promise<TestDashboard> {
  const config = dashboardTestConfig(ctx, options.apiKeys, options.csrfSecret);
  const connection = ctx.newRedis();
  const producer = new SettlementProducer({
    connection,
    prefix: ctx.redisPrefix,
    settings: () => ({ ...config.current().settings.queue, idempotencyWindowSeconds: 3600 }),
  });
  const deps: DashboardDeps = {
    config,
    log: options.log ?? silentLogger(),
    registry: createRegistry({ process_role: "dashboard" }),
    db: options.db ?? ctx.db,
    redis: options.redis ?? connection,
    queues: [producer.queue],
    requeuer: new SettlementRequeuer(producer),
  };
  registerDashboardMetrics(deps);
  const listening = await listen(createDashboardApp(deps), config, deps);
  return {
    url: listening.url,
    deps,
    producer,
    async close() {
      await listening.close();
      await producer.close();
    },
  };
}

export function basicAuth(password: string, user = "ops"): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

const ADMIN = { authorization: basicAuth(ADMIN_KEY) };

/** The overview's CSRF token and a form's request_id, read from the page as a browser would. */
export async function formFields(dashboardUrl: string): Promise<{ csrf: string; requestId: string }> {
  const page = await (await fetch(`${dashboardUrl}/`, { headers: ADMIN })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  const requestId = /name="request_id" value="([^"]+)"/.exec(page)?.[1];
  if (!csrf || !requestId) throw new Error("the overview has no rerun form");
  return { csrf, requestId };
}

/** Sends the overview's rerun form as the admin (headers override, e.g. origin or authorization). */
export function postRerun(
  dashboardUrl: string,
  fields: Record<string, string>,
  headers: Record<string, string>,
) {
  return fetch(`${dashboardUrl}/settlements/rerun`, {
    method: "POST",
    headers: { ...ADMIN, "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields).toString(),
    redirect: "manual",
  });
}

/** A FAILED settlement as the worker leaves one (usage row included), failed now. */
export async function insertFailedSettlement(
  pool: pg.Pool,
  row: { requestId: string; providerId: string; model: string; reason: string; accountId?: string },
): Promise<void> {
  const values = [row.requestId, row.accountId ?? "acct-dash", row.providerId, row.model];
  await pool.query(
    `INSERT INTO usage_events (request_id, account_id, provider_id, model, input_tokens, output_tokens,
       cached_input_tokens, cache_write_tokens, occurred_at)
     VALUES ($1, $2, $3, $4, 1000, 500, 0, 0, now())`,
    values,
  );
  await pool.query(
    `INSERT INTO settlements (request_id, account_id, provider_id, model, status, failure_reason, input_tokens,
       output_tokens, cached_input_tokens, cache_write_tokens, occurred_at)
     VALUES ($1, $2, $3, $4, 'failed', $5, 1000, 500, 0, 0, now())`,
    [...values, row.reason],
  );
}

/** A settled settlement (now), with its split. */
export async function insertSettledSettlement(
  pool: pg.Pool,
  row: { requestId: string; providerId: string; total: bigint; fee: bigint },
): Promise<void> {
  await pool.query(
    `INSERT INTO settlements (request_id, account_id, provider_id, model, status, input_tokens, output_tokens,
       cached_input_tokens, cache_write_tokens, total_cost_micros, company_fee_micros, provider_earnings_micros,
       commission_rate_bps, price_version, occurred_at)
     VALUES ($1, 'acct-dash', $2, 'm', 'settled', 1, 1, 0, 0, $3, $4, $5, 1500, 1, now())`,
    [
      row.requestId,
      row.providerId,
      row.total.toString(),
      row.fee.toString(),
      (row.total - row.fee).toString(),
    ],
  );
}
