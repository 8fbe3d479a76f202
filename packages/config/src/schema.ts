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
    auditHeadLogIntervalMs: positiveMs.default(300_000),
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
