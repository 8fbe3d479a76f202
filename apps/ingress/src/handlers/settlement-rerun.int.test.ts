import { configStoreFor } from "@heidrun/config";
import { silentLogger } from "@heidrun/observability";
import { RerunFailedSettlementsRequest } from "@heidrun/proto";
import { SettlementProducer } from "@heidrun/queue";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallContext, IngressDeps, SettlementHandlers } from "../context";
import { createSettlementHandlers } from "./settlement";

const ctx = useTestContext();
const admin: CallContext = {
  principal: { keyId: "adm00001", scope: "admin" },
  log: silentLogger(),
  signal: new AbortController().signal,
};
let producer: SettlementProducer;
let handlers: SettlementHandlers;

const request = (fields: Partial<RerunFailedSettlementsRequest>) =>
  RerunFailedSettlementsRequest.fromPartial({ requestId: "rerun-1", providerId: "p1", ...fields });

beforeAll(async () => {
  const config = configStoreFor(ctx(), { queue: { prefix: ctx().redisPrefix } });
  producer = new SettlementProducer({
    connection: ctx().newRedis(),
    prefix: ctx().redisPrefix,
    settings: () => ({ ...config.current().settings.queue, idempotencyWindowSeconds: 3600 }),
  });
  handlers = createSettlementHandlers({ config, db: ctx().db, producer } as unknown as IngressDeps);
  for (const [requestId, providerId, failedAt] of [
    ["f-1", "p1", "2026-03-01T10:00:00.000Z"],
    ["f-2", "p1", "2026-03-02T10:00:00.000Z"],
    ["f-3", "p2", "2026-03-01T10:00:00.000Z"],
  ]) {
    await ctx().db.execute(sql`
      INSERT INTO settlements (request_id, account_id, provider_id, model, status, failure_reason, input_tokens,
        output_tokens, cached_input_tokens, cache_write_tokens, occurred_at, settled_at)
      VALUES (${requestId}, 'a', ${providerId}, 'm', 'failed', 'no price', 10, 5, 0, 0, ${failedAt}, ${failedAt})`);
  }
});
afterAll(async () => {
  await producer.close();
});

describe("SettlementService.RerunFailedSettlements", () => {
  it("dry run counts by the filters and queues nothing", async () => {
    const response = await handlers.rerunFailedSettlements(
      request({ requestId: "dry-1", failedFrom: new Date("2026-03-02T00:00:00.000Z"), dryRun: true }),
      admin,
    );
    expect(response).toEqual({ matched: 1n, requeued: 0n });
    expect(await producer.queue.getJobCounts("waiting")).toEqual({ waiting: 0 });
  });

  it("queues the matching failed settlements, replays a repeat, refuses the id with other filters", async () => {
    expect(await handlers.rerunFailedSettlements(request({}), admin)).toEqual({ matched: 2n, requeued: 2n });
    expect(await producer.queue.getJobState("req~f-1~r1")).toBe("waiting");
    expect(await producer.queue.getJobState("req~f-3~r1")).toBe("unknown");
    expect(await handlers.rerunFailedSettlements(request({}), admin)).toEqual({ matched: 2n, requeued: 2n });
    await expect(handlers.rerunFailedSettlements(request({ limit: 1 }), admin)).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
    });
    const audit = await ctx().db.execute(sql`
      SELECT actor FROM audit_events WHERE event_type = 'settlement.rerun_requested' AND request_id = 'rerun-1'`);
    expect(audit.rows).toEqual([{ actor: "adm00001" }]);
  });
});
