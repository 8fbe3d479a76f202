import { randomUUID } from "node:crypto";
import type { ConfigStore } from "@heidrun/config";
import { DomainError } from "@heidrun/core";
import {
  type Db,
  failedSettlementGroups,
  findRerunRequest,
  openHolds,
  readAuditHead,
  rerunFailedSettlements,
  type SettlementRequeuer,
  settledTodayByProvider,
} from "@heidrun/db";
import type { Logger, Registry } from "@heidrun/observability";
import type { QueueConnection } from "@heidrun/queue";
import type { Queue } from "bullmq";
import express, { type Express, type Request, type Response } from "express";
import {
  authDisabled,
  CsrfTokens,
  type DashboardPrincipal,
  requireAdmin,
  requireCsrf,
  requireSameOriginForChanges,
} from "./auth";
import { BULL_BOARD_PATH, createBullBoardRouter } from "./bull-board";
import { checkHealth } from "./health";
import { type OverviewData, type Part, renderOverview } from "./overview-page";
import { queueDepth } from "./queues";

export interface DashboardDeps {
  config: ConfigStore;
  log: Logger;
  /** Served at /metrics; the dashboard's gauges are registered on it (registerDashboardMetrics). */
  registry: Registry;
  db: Db;
  /** Pinged by /healthz; a producer connection (no offline queue) so a dead Redis answers at once. */
  redis: QueueConnection;
  /** Every Heidrun queue: Bull Board, the depths on the overview. */
  queues: readonly Queue[];
  /** The rerun button queues settlements through it. */
  requeuer: SettlementRequeuer;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

async function part<T>(read: () => Promise<T>): Promise<Part<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

function principalOf(res: Response): DashboardPrincipal {
  return res.locals.principal as DashboardPrincipal;
}

/**
 * The form tokens' key: HEIDRUN_DASHBOARD_CSRF_SECRET, so every replica accepts the forms of every other; unset,
 * a key of this process's own (fine for one dashboard; a restart asks open pages for a reload).
 */
function csrfTokens(deps: Pick<DashboardDeps, "config" | "log">): CsrfTokens {
  const secret = deps.config.current().dashboardCsrfSecret;
  if (secret !== undefined) return new CsrfTokens(Buffer.from(secret, "utf8"));
  deps.log.warn(
    "HEIDRUN_DASHBOARD_CSRF_SECRET is not set: this dashboard signs its forms with a key of its own, so " +
      "replicas behind one load balancer refuse each other's forms; give every replica the same secret",
  );
  return new CsrfTokens();
}

/** The dashboard's HTTP app (listening, and TLS if any, is the caller's: runDashboard). */
export function createDashboardApp(deps: DashboardDeps): Express {
  const app = express();
  const csrf = csrfTokens(deps);
  app.disable("x-powered-by");
  app.use((_req, res, next) => {
    res.set({
      "X-Content-Type-Options": "nosniff",
      "X-Frame-Options": "DENY",
      "Referrer-Policy": "same-origin",
      "Cache-Control": "no-store",
    });
    next();
  });

  // Unauthenticated: scrapers and load balancers.
  app.get("/healthz", async (_req, res) => {
    const health = await checkHealth(deps.db, deps.redis);
    res.status(health.ok ? 200 : 503).json(health);
  });
  app.get("/metrics", async (_req, res) => {
    try {
      const text = await deps.registry.metrics();
      res.type(deps.registry.contentType).send(text);
    } catch (error) {
      deps.log.error({ err: error }, "metrics collection failed");
      res.status(500).type("text/plain").send("metrics collection failed\n");
    }
  });

  app.use(requireAdmin(deps.config));

  app.get("/", async (req: Request, res: Response) => {
    const principal = principalOf(res);
    const rerunId = typeof req.query.rerun === "string" ? req.query.rerun : undefined;
    const [queues, settledToday, failedGroups, holds, auditHead, rerun] = await Promise.all([
      part(() => Promise.all(deps.queues.map(queueDepth))),
      part(() => settledTodayByProvider(deps.db)),
      part(() => failedSettlementGroups(deps.db)),
      part(() => openHolds(deps.db)),
      part(() => readAuditHead(deps.db)),
      rerunId && REQUEST_ID.test(rerunId)
        ? findRerunRequest(deps.db, rerunId).then((found) => found ?? { missing: rerunId })
        : undefined,
    ]);
    const data: OverviewData = {
      now: new Date(),
      authOff: authDisabled(deps.config),
      user: principal.user,
      csrf: csrf.issue(principal),
      newRequestId: () => `dashboard-${randomUUID()}`,
      queues,
      settledToday,
      failedGroups,
      holds,
      auditHead,
      ...(rerun ? { rerun } : {}),
    };
    res.type("html").send(renderOverview(data));
  });

  app.post(
    "/settlements/rerun",
    express.urlencoded({ extended: false, limit: "16kb" }),
    requireCsrf(csrf),
    async (req: Request, res: Response) => {
      const body = req.body as Record<string, unknown>;
      const requestId = typeof body.request_id === "string" ? body.request_id : "";
      const reason = typeof body.reason === "string" ? body.reason : undefined;
      if (!REQUEST_ID.test(requestId) || reason === undefined) {
        res.status(400).type("text/plain").send("request_id and reason are required\n");
        return;
      }
      const principal = principalOf(res);
      try {
        const result = await rerunFailedSettlements(deps.db, deps.requeuer, {
          requestId,
          reason,
          actor: `dashboard:${principal.keyId}`,
        });
        deps.log.info(
          { requestId, reason, matched: result.matched.toString(), requeued: result.requeued.toString() },
          "rerun requested from the dashboard",
        );
        res.redirect(303, `/?rerun=${encodeURIComponent(requestId)}`);
      } catch (error) {
        const status = error instanceof DomainError && error.code === "ALREADY_EXISTS" ? 409 : 503;
        deps.log.error({ err: error, requestId }, "dashboard rerun failed");
        res
          .status(status)
          .type("text/plain")
          .send(`rerun failed: ${(error as Error).message}\n`);
      }
    },
  );

  app.use(BULL_BOARD_PATH, requireSameOriginForChanges, createBullBoardRouter(deps.queues));
  return app;
}
