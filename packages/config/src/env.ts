import { createHash } from "node:crypto";
import { z } from "zod";
import { parseRedisClusterNodes } from "./redis-cluster";
import { type ApiKey, apiKeyScopes } from "./schema";

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "must be host:port");

function parseApiKeys(raw: string, ctx: z.RefinementCtx): ApiKey[] {
  const keys: ApiKey[] = [];
  for (const [index, pair] of raw.split(",").entries()) {
    const trimmed = pair.trim();
    if (trimmed === "") continue;
    const at = trimmed.lastIndexOf("=");
    const key = trimmed.slice(0, at);
    const scope = trimmed.slice(at + 1);
    if (at <= 0 || !(apiKeyScopes as readonly string[]).includes(scope)) {
      ctx.addIssue({ code: "custom", message: `entry ${index + 1} must be key=yggdrasil or key=admin` });
      continue;
    }
    if (key.length < 16) {
      ctx.addIssue({ code: "custom", message: `entry ${index + 1}: keys must be at least 16 characters` });
      continue;
    }
    const id = createHash("sha256").update(key).digest("hex").slice(0, 8);
    keys.push({ id, key, scope: scope as ApiKey["scope"] });
  }
  return keys;
}

/** Environment variables: fixed for the life of the process (changing them needs a restart). */
export const envSchema = z.object({
  DATABASE_URL: z.url().default("postgres://postgres@127.0.0.1:5432/heidrun"),
  REDIS_URL: z.url().default("redis://127.0.0.1:6379"),
  /** Seed nodes of a Redis Cluster; when set, the queues, idempotency window and pub/sub use it, not REDIS_URL. */
  HEIDRUN_REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((raw, ctx) => (raw ? parseRedisClusterNodes(raw, ctx) : [])),
  HEIDRUN_GRPC_ADDR: hostPort.default("0.0.0.0:50051"),
  HEIDRUN_DASHBOARD_ADDR: hostPort.default("127.0.0.1:3000"),
  /** The ingress's /metrics port, over settings.metrics.ingressPort (0: any free port, logged at start). */
  HEIDRUN_INGRESS_METRICS_PORT: z
    .string()
    .regex(/^\d{1,5}$/, "must be a port number")
    .transform(Number)
    .pipe(z.number().max(65_535, "must be a port number"))
    .optional(),
  /** The key of the dashboard's CSRF tokens, shared by its replicas; unset, each process draws its own. */
  HEIDRUN_DASHBOARD_CSRF_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  HEIDRUN_API_KEYS: z
    .string()
    .optional()
    .transform((raw, ctx) => (raw ? parseApiKeys(raw, ctx) : [])),
  HEIDRUN_CONFIG: z.string().min(1).optional(),
  HEIDRUN_SERVICES: z.enum(["external", "private", "auto"]).default("auto"),
  HEIDRUN_LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
});

export type EnvSettings = z.output<typeof envSchema>;
