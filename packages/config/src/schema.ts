import { z } from "zod";

const bps = z.number().int().min(0).max(10_000);
const positiveMs = z.number().int().positive();

/** A bigint setting; JSON files carry it as a decimal string (or a safe integer) so nothing is lost. */
const bigintSetting = z
  .union([
    z.string().regex(/^\d+$/, "must be a non-negative integer in decimal digits"),
    z.number().int().nonnegative(),
  ])
  .transform((value) => BigInt(value));

const transportMode = z.enum(["plaintext", "tls", "mtls"]).default("plaintext");
const pemFile = z.string().min(1).optional();

/** Which files a listener needs for its mode: tls a certificate and key, mtls also the CA that signs clients. */
function requireFiles(
  listener: {
    mode: string;
    certFile?: string | undefined;
    keyFile?: string | undefined;
    caFile?: string | undefined;
  },
  ctx: z.RefinementCtx,
  path: string[],
): void {
  if (listener.mode === "plaintext") return;
  const needed =
    listener.mode === "mtls"
      ? (["certFile", "keyFile", "caFile"] as const)
      : (["certFile", "keyFile"] as const);
  for (const name of needed) {
    if (!listener[name])
      ctx.addIssue({
        code: "custom",
        path: [...path, name],
        message: `is required when mode is ${listener.mode}`,
      });
  }
}

/**
 * Transport security of the gRPC port (and optionally the dashboard). Read at start: changing the mode or the
 * file paths needs a restart; the CONTENTS of the certificate, key and CA files are re-read when they change.
 * keySubjects (API key id → required client certificate subject) is read per call.
 */
const tlsSettings = z
  .object({
    mode: transportMode,
    certFile: pemFile,
    keyFile: pemFile,
    /** CA bundle that client certificates must chain to (mtls). */
    caFile: pemFile,
    /** API key id (HEIDRUN_API_KEYS label) → subject(s) its client certificate must have, e.g. "CN=yggdrasil". */
    keySubjects: z
      .record(z.string().min(1), z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]))
      .default({}),
    /** How often the certificate files are checked for changes. */
    reloadCheckIntervalMs: positiveMs.default(5000),
    dashboard: z
      .object({ mode: transportMode, certFile: pemFile, keyFile: pemFile, caFile: pemFile })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({})
  .superRefine((t, ctx) => {
    requireFiles(t, ctx, []);
    // The dashboard falls back to the gRPC port's files.
    requireFiles(
      {
        mode: t.dashboard.mode,
        certFile: t.dashboard.certFile ?? t.certFile,
        keyFile: t.dashboard.keyFile ?? t.keyFile,
        caFile: t.dashboard.caFile ?? t.caFile,
      },
      ctx,
      ["dashboard"],
    );
    if (Object.keys(t.keySubjects).length > 0 && t.mode !== "mtls")
      ctx.addIssue({
        code: "custom",
        path: ["keySubjects"],
        message: "binding keys to certificate subjects needs mode mtls (no client certificate otherwise)",
      });
  });

/** OpenTelemetry traces; off unless otlpEndpoint is set. Read at start (a change needs a restart). */
const tracingSettings = z
  .object({
    /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
    otlpEndpoint: z.url().optional(),
    /** Extra HTTP headers for the exporter (e.g. an API token of the collector). */
    headers: z.record(z.string().min(1), z.string()).default({}),
    /** Share of new traces (without a sampled parent) that are recorded; a caller's sampled flag is followed. */
    sampleRatio: z.number().min(0).max(1).default(1),
  })
  .strict()
  .prefault({});

/** Settings from the JSON file of HEIDRUN_CONFIG; all of them may change while the process runs. */
export const settingsSchema = z
  .object({
    commission: z
      .object({
        defaultBps: bps.default(1500),
        minBps: bps.default(1000),
        maxBps: bps.default(1500),
        overrides: z.record(z.string().min(1), bps).default({}),
      })
      .strict()
      .prefault({})
      .superRefine((c, ctx) => {
        if (c.minBps > c.maxBps)
          ctx.addIssue({ code: "custom", path: ["minBps"], message: "must be ≤ maxBps" });
        const outside = (value: number) => value < c.minBps || value > c.maxBps;
        if (outside(c.defaultBps))
          ctx.addIssue({
            code: "custom",
            path: ["defaultBps"],
            message: `must be within ${c.minBps}–${c.maxBps}`,
          });
        for (const [provider, value] of Object.entries(c.overrides)) {
          if (outside(value))
            ctx.addIssue({
              code: "custom",
              path: ["overrides", provider],
              message: `must be within ${c.minBps}–${c.maxBps}`,
            });
        }
      }),
    roundingIncrementMicros: bigintSetting
      .refine((v) => v >= 1n, "must be at least 1")
      .default(1n)
      .describe("cost is rounded up to a multiple of this"),
    preauth: z
      .object({
        defaultTtlSeconds: z.number().int().min(1).default(900),
        maxTtlSeconds: z.number().int().min(1).max(86_400).default(86_400),
        sweepIntervalMs: positiveMs.default(1000),
      })
      .strict()
      .prefault({})
      .refine((p) => p.defaultTtlSeconds <= p.maxTtlSeconds, {
        path: ["defaultTtlSeconds"],
        message: "must be ≤ maxTtlSeconds",
      }),
    worker: z
      .object({
        batchSize: z.number().int().min(1).max(5000).default(500),
        lingerMs: z.number().int().min(0).max(10_000).default(25),
        concurrency: z.number().int().min(1).max(10_000).default(1000),
        reconcileIntervalMs: positiveMs.default(60_000),
        shutdownGraceMs: positiveMs.default(15_000),
      })
      .strict()
      .prefault({}),
    queue: z
      .object({
        attempts: z.number().int().min(1).max(100).default(8),
        backoffMs: positiveMs.default(1000),
        prefix: z.string().min(1).default("{heidrun}"),
        keepCompletedSeconds: z.number().int().min(0).default(86_400),
        keepFailedSeconds: z
          .number()
          .int()
          .min(0)
          .default(30 * 86_400),
      })
      .strict()
      .prefault({}),
    idempotencyWindowSeconds: z.number().int().min(60).default(86_400),
    /** The deployment currency (ISO 4217): every price and account is in it. */
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD")
      .default("USD"),
    priceCache: z
      .object({ refreshIntervalMs: positiveMs.default(30_000) })
      .strict()
      .prefault({}),
    tokenizers: z
      .object({
        offThreadThresholdBytes: z.number().int().min(0).default(65_536),
        poolSize: z.number().int().min(1).max(16).default(1),
        modelMap: z
          .record(z.string().min(1), z.enum(["o200k_base", "cl100k_base", "claude", "estimate"]))
          .default({}),
      })
      .strict()
      .prefault({}),
    ingress: z
      .object({
        maxDeadlineMs: positiveMs.default(30_000),
        shutdownGraceMs: positiveMs.default(10_000),
        healthCheckIntervalMs: positiveMs.default(1000),
        keepaliveTimeMs: positiveMs.default(30_000),
        keepaliveTimeoutMs: positiveMs.default(10_000),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        /** What to do when the queue's Redis would lose acknowledged jobs (no AOF, fsync not always, evicting). */
        durabilityCheck: z.enum(["refuse", "warn", "off"]).default("warn"),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        file: z.string().min(1).optional(),
        rotateSize: z
          .string()
          .regex(/^\d+[kmg]?$/i)
          .default("100m"),
        rotateFrequency: z.enum(["daily", "hourly"]).optional(),
        keepFiles: z.number().int().min(1).default(10),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        /** Each process serves /metrics here; 0 = any free port (several workers on one host). Restart to change. */
        host: z.string().min(1).default("127.0.0.1"),
        ingressPort: z.number().int().min(0).max(65_535).default(9464),
        workerPort: z.number().int().min(0).max(65_535).default(0),
      })
      .strict()
      .prefault({}),
    auditHeadLogIntervalMs: positiveMs.default(300_000),
    tls: tlsSettings,
    tracing: tracingSettings,
  })
  .strict();

export type Settings = z.output<typeof settingsSchema>;

export const apiKeyScopes = ["yggdrasil", "admin"] as const;
export type ApiKeyScope = (typeof apiKeyScopes)[number];
export interface ApiKey {
  /** A short non-secret label for logs and audit records (first 8 hex chars of the key's sha256). */
  id: string;
  key: string;
  scope: ApiKeyScope;
}
