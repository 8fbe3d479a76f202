import { type Db, pingDatabase } from "@heidrun/db";
import type { QueueConnection } from "@heidrun/queue";

export interface HealthReport {
  ok: boolean;
  postgres: string;
  redis: string;
}

const TIMEOUT_MS = 2000;

async function probe(check: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      }),
    ]);
    return "ok";
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    clearTimeout(timer);
  }
}

/** /healthz: 200 when Postgres and Redis both answer, 503 (naming the failure) otherwise. */
export async function checkHealth(db: Db, redis: QueueConnection): Promise<HealthReport> {
  const [postgres, redisState] = await Promise.all([
    probe(() => pingDatabase(db)),
    probe(() => redis.ping()),
  ]);
  return { ok: postgres === "ok" && redisState === "ok", postgres, redis: redisState };
}
