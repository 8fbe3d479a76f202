import { DomainError } from "@heidrun/core";
import { SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readAuditHead } from "./audit-verify";
import { rerunFailedSettlements } from "./rerun";
import { SettlementRequeuer } from "./rerun-queue";
import type { RerunRequest } from "./rerun-types";

const ctx = useTestContext();
let producer: SettlementProducer;
let requeuer: SettlementRequeuer;

const NO_PRICE_A = "no price for provider a, model m-1";
const NO_PRICE_B = "no price for provider b, model m-2";
const OVERFLOW = "cost beyond int64";

interface Failed {
  requestId: string;
  providerId: string;
  reason: string;
  failedAt: string;
  preauthId?: string;
  /** Write a usage_events row (the worker does, unless the failure came before it). */
  usageRow?: boolean;
}

const FAILED: Failed[] = [
  {
    requestId: "f-a1",
    providerId: "a",
    reason: NO_PRICE_A,
    failedAt: "2026-03-01T10:00:00.000Z",
    usageRow: true,
  },
  { requestId: "f-b1", providerId: "b", reason: NO_PRICE_B, failedAt: "2026-03-01T11:00:00.000Z" },
  {
    requestId: "f-a2",
    providerId: "a",
    reason: NO_PRICE_A,
    failedAt: "2026-03-02T10:00:00.000Z",
    usageRow: true,
  },
  { requestId: "f-b2", providerId: "b", reason: OVERFLOW, failedAt: "2026-03-03T10:00:00.000Z" },
  {
    requestId: "f-c1",
    providerId: "c",
    reason: "pinned version missing",
    failedAt: "2026-03-04T10:00:00.000Z",
    preauthId: "pa-c1",
  },
];

async function seed(): Promise<void> {
  for (const f of FAILED) {
    await ctx().db.execute(sql`
      INSERT INTO settlements (request_id, account_id, provider_id, model, preauth_id, status, failure_reason,
        input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, occurred_at, settled_at)
      VALUES (${f.requestId}, 'acct-1', ${f.providerId}, 'm-1', ${f.preauthId ?? null}, 'failed', ${f.reason},
        1000, 500, 100, 0, '2026-02-28T12:00:00.000Z', ${f.failedAt})`);
    if (f.usageRow) {
      await ctx().db.execute(sql`
        INSERT INTO usage_events (request_id, account_id, provider_id, model, input_tokens, output_tokens,
          cached_input_tokens, cache_write_tokens, occurred_at)
        VALUES (${f.requestId}, 'acct-1', ${f.providerId}, 'm-1', 1000, 500, 100, 0, '2026-02-28T12:00:00.000Z')`);
    }
  }
  await ctx().db.execute(sql`
    INSERT INTO settlements (request_id, account_id, provider_id, model, status, input_tokens, output_tokens,
      cached_input_tokens, cache_write_tokens, total_cost_micros, provider_earnings_micros, occurred_at, settled_at)
    VALUES ('s-1', 'acct-1', 'a', 'm-1', 'settled', 1, 1, 0, 0, 5, 5, '2026-02-28T12:00:00.000Z',
      '2026-03-01T12:00:00.000Z')`);
}

let serial = 0;
function rerun(extra: Partial<RerunRequest> = {}) {
  serial += 1;
  return rerunFailedSettlements(ctx().db, requeuer, { requestId: `rr-${serial}`, actor: "test", ...extra });
}

/** Request ids with a job in the queue (any state), and the job ids. */
async function queuedJobs(): Promise<{ id: string; name: string; data: Record<string, unknown> }[]> {
  const jobs = await producer.queue.getJobs(["waiting", "active", "delayed", "failed", "completed"]);
  return jobs
    .map((job) => ({ id: job.id!, name: job.name, data: job.data as Record<string, unknown> }))
    .sort((x, y) => (x.id < y.id ? -1 : 1));
}

async function scalar(query: ReturnType<typeof sql>): Promise<unknown> {
  const result = await ctx().db.execute(query);
  return Object.values(result.rows[0] as Record<string, unknown>)[0];
}

beforeAll(async () => {
  producer = new SettlementProducer({
    connection: ctx().newRedis(),
    prefix: ctx().redisPrefix,
    settings: () => ({
      attempts: 3,
      backoffMs: 100,
      keepCompletedSeconds: 3600,
      keepFailedSeconds: 3600,
      idempotencyWindowSeconds: 3600,
    }),
  });
  requeuer = new SettlementRequeuer(producer);
  await seed();
});
beforeEach(async () => {
  await producer.queue.obliterate({ force: true });
});
afterAll(async () => {
  await producer.close();
});

describe("rerunFailedSettlements", () => {
  it("by provider: requeues that provider's FAILED rows under a new job id, usage from the usage row", async () => {
    const result = await rerun({ providerId: "a" });
    expect(result).toMatchObject({
      matched: 2n,
      requeued: 2n,
      alreadySettled: 0n,
      inFlight: 0n,
      replayed: false,
    });
    expect(await queuedJobs()).toEqual([
      {
        id: "req~f-a1~r1",
        name: "track-usage",
        data: {
          requestId: "f-a1",
          accountId: "acct-1",
          providerId: "a",
          model: "m-1",
          usage: {
            inputTokens: "1000",
            outputTokens: "500",
            cachedInputTokens: "100",
            cacheWriteTokens: "0",
          },
          occurredAt: "2026-02-28T12:00:00.000Z",
          actor: "test",
        },
      },
      expect.objectContaining({ id: "req~f-a2~r1", name: "track-usage" }),
    ]);
  });

  it("by failure time [since, until)", async () => {
    const result = await rerun({
      since: new Date("2026-03-01T11:00:00.000Z"),
      until: new Date("2026-03-03T10:00:00.000Z"),
    });
    expect(result).toMatchObject({ matched: 2n, requeued: 2n });
    expect((await queuedJobs()).map((job) => job.id)).toEqual(["req~f-a2~r1", "req~f-b1~r1"]);
  });

  it("by reason: a case-insensitive part, or one exact reason (a dashboard group)", async () => {
    expect(await rerun({ reasonContains: "NO PRICE", dryRun: true })).toMatchObject({ matched: 3n });
    const exact = await rerun({ reason: NO_PRICE_B });
    expect(exact).toMatchObject({ matched: 1n, requeued: 1n });
    expect((await queuedJobs()).map((job) => job.id)).toEqual(["req~f-b1~r1"]);
  });

  it("by limit: the oldest failures first", async () => {
    expect(await rerun({ limit: 2, pageSize: 1 })).toMatchObject({ matched: 2n, requeued: 2n });
    expect((await queuedJobs()).map((job) => job.id)).toEqual(["req~f-a1~r1", "req~f-b1~r1"]);
  });

  it("a capture is requeued as settle-capture of its pre-auth", async () => {
    expect(await rerun({ providerId: "c" })).toMatchObject({ matched: 1n, requeued: 1n });
    expect(await queuedJobs()).toEqual([
      {
        id: "req~f-c1~r1",
        name: "settle-capture",
        data: { requestId: "f-c1", preauthId: "pa-c1", actor: "test" },
      },
    ]);
  });

  it("a dry run counts and writes nothing: no job, no rerun_requests row, no audit event", async () => {
    const head = await readAuditHead(ctx().db);
    const requests = await scalar(sql`SELECT count(*) FROM rerun_requests`);
    const pages: bigint[] = [];
    const result = await rerun({ dryRun: true, pageSize: 2, onPage: (p) => pages.push(p.matched) });
    expect(result).toMatchObject({ matched: 5n, requeued: 0n, replayed: false });
    expect(pages).toEqual([2n, 4n, 5n]);
    expect(await queuedJobs()).toEqual([]);
    expect(await scalar(sql`SELECT count(*) FROM rerun_requests`)).toBe(requests);
    expect(await readAuditHead(ctx().db)).toEqual(head);
    expect(await scalar(sql`SELECT count(*) FROM settlements WHERE status = 'failed'`)).toBe(5n);
  });

  it("is idempotent by request_id: a repeat answers the first result, other filters are ALREADY_EXISTS", async () => {
    const first = await rerunFailedSettlements(ctx().db, requeuer, {
      requestId: "rr-idem",
      actor: "key-1",
      providerId: "b",
    });
    expect(first).toMatchObject({ matched: 2n, requeued: 2n, replayed: false });
    await producer.queue.obliterate({ force: true });
    const again = await rerunFailedSettlements(ctx().db, requeuer, {
      requestId: "rr-idem",
      actor: "key-1",
      providerId: "b",
    });
    expect(again).toMatchObject({ matched: 2n, requeued: 2n, replayed: true });
    expect(await queuedJobs()).toEqual([]);
    const conflict = await rerunFailedSettlements(ctx().db, requeuer, {
      requestId: "rr-idem",
      actor: "key-1",
      providerId: "a",
    }).catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(DomainError);
    expect((conflict as DomainError).code).toBe("ALREADY_EXISTS");
    const audit = await ctx().db.execute(sql`
      SELECT actor, request_id, provider_id, payload FROM audit_events
      WHERE event_type = 'settlement.rerun_requested' AND request_id = 'rr-idem'`);
    expect(audit.rows).toEqual([
      {
        actor: "key-1",
        request_id: "rr-idem",
        provider_id: "b",
        payload:
          '{"alreadySettled":"0","filters":{"providerId":"b"},"inFlight":"0","matched":"2","requeued":"2"}',
      },
    ]);
  });

  it("a second rerun finds the jobs of the first in flight; two at once queue one job per request", async () => {
    const [x, y] = await Promise.all([rerun(), rerun()]);
    expect(x.matched + y.matched).toBe(10n);
    const jobs = await queuedJobs();
    expect(jobs.map((job) => job.id)).toEqual([
      "req~f-a1~r1",
      "req~f-a2~r1",
      "req~f-b1~r1",
      "req~f-b2~r1",
      "req~f-c1~r1",
    ]);
    const later = await rerun();
    expect(later).toMatchObject({ matched: 5n, requeued: 0n, inFlight: 5n });
    expect(await queuedJobs()).toHaveLength(5);
  });

  it("rejects a bad limit or a reversed time range; an empty range matches nothing", async () => {
    await expect(rerun({ limit: -1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", field: "limit" });
    const at = new Date("2026-03-01T10:00:00.000Z");
    const later = new Date("2026-03-02T00:00:00.000Z");
    await expect(rerun({ since: later, until: at })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(await rerun({ since: at, until: at, dryRun: true })).toMatchObject({ matched: 0n });
  });
});
