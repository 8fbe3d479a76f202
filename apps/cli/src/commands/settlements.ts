import { randomUUID } from "node:crypto";
import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import { DomainError } from "@heidrun/core";
import {
  countRerunCandidates,
  createDb,
  createPool,
  type Db,
  type ReconcileFinding,
  type RerunFilters,
  reconcileSettlements,
  rerunFailedSettlements,
  rerunOutcomes,
  SettlementRequeuer,
} from "@heidrun/db";
import { connectRedis, SettlementProducer } from "@heidrun/queue";
import type { Command, CommandIo } from "../io";

const USAGE = `usage: heidrun settlements rerun [--provider P] [--since T] [--until T] [--reason TEXT] [--limit N]
                                [--dry-run] [--request-id ID] [--wait SECONDS]
       heidrun settlements reconcile [--dry-run] [--min-age SECONDS]
T is an ISO-8601 time (2026-03-01T00:00:00Z) or an age (90m, 24h, 7d); --reason matches part of the failure
reason, ignoring case; --wait follows the requeued settlements that long (default 60, 0: do not wait).`;

class UsageError extends Error {}

function instant(raw: string | undefined, name: string, now: number): Date | undefined {
  if (raw === undefined) return undefined;
  const age = /^(\d{1,6})([smhd])$/.exec(raw);
  if (age) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as "s" | "m" | "h" | "d"];
    return new Date(now - Number.parseInt(age[1]!, 10) * unit);
  }
  const at = new Date(raw);
  if (!/^\d{4}-\d\d-\d\d/.test(raw) || Number.isNaN(at.getTime()))
    throw new UsageError(`--${name} must be an ISO-8601 time or an age like 24h, got "${raw}"`);
  return at;
}

function count(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw)) throw new UsageError(`--${name} must be a whole number, got "${raw}"`);
  return Number.parseInt(raw, 10);
}

/** A one-line bar on a terminal (redrawn in place); nothing when stderr is a file or a pipe. */
function progress(io: CommandIo) {
  const tty = io.stderr.isTTY === true;
  let drawn = false;
  return {
    draw(done: number, total: number, label: string) {
      if (!tty) return;
      const width = 30;
      const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : width;
      io.stderr.write(
        `\r\x1b[2K[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${label}`,
      );
      drawn = true;
    },
    clear() {
      if (drawn) io.stderr.write("\r\x1b[2K");
      drawn = false;
    },
  };
}

async function withQueue<T>(
  io: CommandIo,
  use: (db: Db, requeuer: SettlementRequeuer) => Promise<T>,
): Promise<T> {
  const config = io.config.current();
  const pool = createPool(config.databaseUrl, {
    applicationName: "heidrun-settlements",
    max: 4,
    role: "heidrun_app",
  });
  const redis = connectRedis(config, "producer");
  const producer = new SettlementProducer({
    connection: redis,
    prefix: config.settings.queue.prefix,
    settings: () => ({
      ...config.settings.queue,
      idempotencyWindowSeconds: config.settings.idempotencyWindowSeconds,
    }),
  });
  try {
    return await use(createDb(pool), new SettlementRequeuer(producer));
  } finally {
    await producer.close().catch(() => {});
    await Promise.allSettled([pool.end(), redis.quit().catch(() => redis.disconnect())]);
  }
}

function table(rows: [string, unknown][]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}\n`).join("");
}

/** Follows requeued settlements until none is pending or `seconds` pass; polls the rows (they are the truth). */
async function follow(io: CommandIo, db: Db, ids: string[], since: Date, seconds: number) {
  const bar = progress(io);
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    let settled = 0;
    let stillFailing = 0;
    let pending = 0;
    for (let i = 0; i < ids.length; i += 5000) {
      const chunk = await rerunOutcomes(db, ids.slice(i, i + 5000), since);
      settled += chunk.settled;
      stillFailing += chunk.stillFailing;
      pending += chunk.pending;
    }
    bar.draw(settled + stillFailing, ids.length, `settled ${settled}, still failing ${stillFailing}`);
    if (pending === 0 || Date.now() >= deadline) {
      bar.clear();
      return { settled, stillFailing, pending };
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function rerun(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      provider: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      reason: { type: "string" },
      limit: { type: "string" },
      "dry-run": { type: "boolean" },
      "request-id": { type: "string" },
      wait: { type: "string" },
    },
  });
  const now = Date.now();
  const filters: RerunFilters = {
    providerId: values.provider,
    since: instant(values.since, "since", now),
    until: instant(values.until, "until", now),
    reasonContains: values.reason,
    limit: count(values.limit, "limit"),
  };
  const dryRun = values["dry-run"] === true;
  const wait = count(values.wait, "wait") ?? 60;
  const requestId = values["request-id"] ?? `cli-rerun-${randomUUID()}`;
  return withQueue(io, async (db, requeuer) => {
    const total = Number(await countRerunCandidates(db, filters));
    const bar = progress(io);
    const queuedIds: string[] = [];
    const result = await rerunFailedSettlements(db, requeuer, {
      ...filters,
      requestId,
      actor: `cli:${userInfo().username}`,
      dryRun,
      onPage: (page) => {
        queuedIds.push(...page.pageQueued);
        bar.draw(
          Number(page.matched),
          Math.max(total, Number(page.matched)),
          dryRun ? "counted" : "requeued",
        );
      },
    });
    bar.clear();
    if (dryRun) {
      io.stdout.write(`dry run: ${result.matched} failed settlements match; nothing was queued\n`);
      return 0;
    }
    const rows: [string, unknown][] = [
      ["request id", requestId + (result.replayed ? " (replayed: an earlier run with this id)" : "")],
      ["matched", result.matched],
      ["requeued", result.requeued],
      ["already settled", result.alreadySettled],
      ["in flight", result.inFlight],
    ];
    if (queuedIds.length > 0 && wait > 0) {
      const outcome = await follow(io, db, queuedIds, result.startedAt, wait);
      rows.push(["settled", outcome.settled], ["still failing", outcome.stillFailing]);
      if (outcome.pending > 0)
        rows.push(["not finished", `${outcome.pending} (no worker running? waited ${wait} s)`]);
    }
    io.stdout.write(table(rows));
    return 0;
  });
}

const KIND_LABEL: Record<ReconcileFinding["kind"], [one: string, many: string]> = {
  capture_unsettled: ["captured pre-auth without a settlement", "captured pre-auths without a settlement"],
  usage_unsettled: ["usage without a settlement", "usage rows without a settlement"],
  failed_without_job: ["FAILED settlement whose job is gone", "FAILED settlements whose job is gone"],
  usage_failed_job: [
    "usage whose job gave up with PostgreSQL down",
    "usage jobs that gave up with PostgreSQL down",
  ],
};

async function reconcile(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { "dry-run": { type: "boolean" }, "min-age": { type: "string" } },
  });
  const minAge = count(values["min-age"], "min-age") ?? 60;
  const dryRun = values["dry-run"] === true;
  const settings = io.config.current().settings;
  return withQueue(io, async (db, requeuer) => {
    const report = await reconcileSettlements(db, requeuer, {
      keepFailedSeconds: settings.queue.keepFailedSeconds,
      minAgeMs: minAge * 1000,
      dryRun,
      actor: `cli:${userInfo().username}`,
    });
    const shown = report.findings.slice(0, 50);
    for (const f of shown) {
      const preauth = f.preauthId ? ` (pre-auth ${f.preauthId})` : "";
      io.stdout.write(
        `${KIND_LABEL[f.kind][0]}: ${f.requestId}${preauth} → ${dryRun ? "would requeue" : f.action}\n`,
      );
    }
    if (report.findings.length > shown.length)
      io.stdout.write(`… and ${report.findings.length - shown.length} more\n`);
    const byKind = (kind: ReconcileFinding["kind"]) => report.findings.filter((f) => f.kind === kind).length;
    io.stdout.write(
      table(
        (Object.keys(KIND_LABEL) as ReconcileFinding["kind"][]).map((kind) => [
          KIND_LABEL[kind][1],
          byKind(kind),
        ]),
      ) + (report.findings.length === 0 ? "nothing lost: every settlement has its row or its job\n" : ""),
    );
    if (dryRun && report.findings.length > 0) io.stdout.write("dry run: nothing was queued\n");
    return 0;
  });
}

/** Drizzle wraps driver errors; the operator needs the innermost reason. */
function rootMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

/** `heidrun settlements rerun …` and `heidrun settlements reconcile …`. Exit 0 done, 1 failed, 2 bad usage. */
export const settlements: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  try {
    if (sub === "rerun") return await rerun(rest, io);
    if (sub === "reconcile") return await reconcile(rest, io);
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : "a subcommand is required");
  } catch (error) {
    const usage =
      error instanceof UsageError ||
      (error instanceof DomainError && error.code === "INVALID_ARGUMENT") ||
      String((error as { code?: unknown }).code).startsWith("ERR_PARSE_ARGS");
    io.stderr.write(`heidrun settlements: ${rootMessage(error)}\n${usage ? `${USAGE}\n` : ""}`);
    return usage ? 2 : 1;
  }
};
