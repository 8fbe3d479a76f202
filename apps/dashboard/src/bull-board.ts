import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Queue } from "bullmq";
import type { Express } from "express";

export const BULL_BOARD_PATH = "/queues";

type RenderCallback = (error: Error | null, html?: string) => void;
type ViewEngine = (path: string, options: object, callback: RenderCallback) => void;

// Bull Board's page asks Google for its fonts; the dashboard loads nothing from outside (isolated networks,
// no third party learning who looks at the queues), so the link goes and the system fonts take over.
const EXTERNAL_STYLESHEET = /<link[^>]+href="https?:\/\/[^"]*"[^>]*>/g;

function withoutExternalStylesheets(app: Express): void {
  const engines = (app as unknown as { engines: Record<string, ViewEngine | undefined> }).engines;
  const render = engines[".ejs"];
  if (!render) throw new Error("Bull Board's view engine is not registered (version change?)");
  app.engine("ejs", (path, options, callback) =>
    render(path, options, (error, page) => callback(error, page?.replace(EXTERNAL_STYLESHEET, ""))),
  );
}

/**
 * Bull Board over the given queues, mounted at /queues: retry, clean and the other job actions are allowed
 * (the router in front of it checks the admin key and the origin of every change).
 */
export function createBullBoardRouter(queues: readonly Queue[]): Express {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: false, allowRetries: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: "Heidrun queues" } },
  });
  const app = serverAdapter.getRouter() as Express;
  withoutExternalStylesheets(app);
  return app;
}
