import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuditEventInput, appendAudit } from "./audit";
import { auditHash, auditRecordText, GENESIS_HASH } from "./audit-canonical";
import { startAuditHeadLogger } from "./audit-head-logger";
import { readAuditHead, verifyAuditChain } from "./audit-verify";
import { createDb, createPool, type Db } from "./pool";

const ctx = useTestContext();
let appPool: pg.Pool;
let app: Db;

beforeAll(async () => {
  // Every appending transaction holds the head lock through its commit; without the fsync wait the
  // 4,000-transaction test stays in seconds. Durability is not what it tests.
  const name = (await ctx().pool.query("SELECT current_database() AS n")).rows[0].n as string;
  await ctx().pool.query(`ALTER DATABASE "${name}" SET synchronous_commit = off`);
  appPool = createPool(ctx().databaseUrl, { role: "heidrun_app", max: 8, applicationName: "audit-test-app" });
  app = createDb(appPool);
});

afterAll(async () => {
  await appPool?.end();
});

/** Runs `change` as the superuser with triggers off: what an attacker with the database's keys can do. */
async function tamper(change: (client: pg.PoolClient) => Promise<unknown>): Promise<void> {
  const client = await ctx().pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SET LOCAL session_replication_role = replica");
    await change(client);
    await client.query("COMMIT");
  } finally {
    client.release();
  }
}

function batchOf(writer: number, index: number): AuditEventInput[] {
  const count = 1 + ((writer * 500 + index) % 3);
  return Array.from({ length: count }, (_, k) => ({
    type: "usage.recorded",
    requestId: `w${writer}-t${index}-e${k}`,
    accountId: `acct-${writer}`,
    providerId: "prov-1",
    actor: "worker",
    data: { inputTokens: BigInt(index), costMicros: 10n ** 18n + BigInt(k) },
  }));
}

describe("audit trail", () => {
  it("starts at the genesis head and records an event exactly as documented", async () => {
    expect(await readAuditHead(app)).toEqual({ seq: 0n, hash: GENESIS_HASH });
    const result = await app.transaction((tx) =>
      appendAudit(tx, [
        {
          type: "account.credited",
          requestId: "req-1",
          accountId: "acct-1",
          actor: "admin:ops",
          data: { amountMicros: 9_007_199_254_740_993n, reference: "wire 42" },
        },
      ]),
    );
    const { rows } = await ctx().pool.query(
      `SELECT payload, prev_hash, hash, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
       FROM audit_events WHERE seq = 1`,
    );
    const row = rows[0] as { payload: string; prev_hash: string; hash: string; at: string };
    expect(row.payload).toBe('{"amountMicros":"9007199254740993","reference":"wire 42"}');
    expect(row.prev_hash).toBe(GENESIS_HASH);
    const record =
      '{"account_id":"acct-1","actor":"admin:ops","data":{"amountMicros":"9007199254740993","reference":"wire 42"},' +
      `"preauth_id":null,"provider_id":null,"recorded_at":"${row.at}","request_id":"req-1","seq":"1","type":"account.credited"}`;
    expect(row.hash).toBe(auditHash(GENESIS_HASH, record));
    expect(result).toEqual({ count: 1, firstSeq: 1n, lastSeq: 1n, hash: row.hash });
    expect(await readAuditHead(app)).toEqual({ seq: 1n, hash: row.hash });
  });

  it("leaves no record of a rolled-back transaction", async () => {
    const before = await readAuditHead(app);
    const rollback = new Error("rolled back on purpose");
    await expect(
      app.transaction(async (tx) => {
        await appendAudit(tx, [{ type: "price.set", providerId: "prov-1", actor: "admin:ops", data: {} }]);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await readAuditHead(app)).toEqual(before);
    const { rows } = await ctx().pool.query(
      "SELECT count(*) AS n FROM audit_events WHERE event_type = 'price.set'",
    );
    expect(rows[0].n).toBe(0n);
  });

  it("keeps one unbroken chain under 8 concurrent writers × 500 transactions", async () => {
    const start = await readAuditHead(app);
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, writer) => {
        const mine = [];
        for (let index = 0; index < 500; index++) {
          const events = batchOf(writer, index);
          mine.push(await app.transaction((tx) => appendAudit(tx, events)));
        }
        return mine;
      }),
    );
    const batches = results.flat().sort((a, b) => (a.firstSeq < b.firstSeq ? -1 : 1));
    const total = batches.reduce((sum, batch) => sum + batch.count, 0);
    expect(total).toBe(7999);
    let next = start.seq + 1n;
    for (const batch of batches) {
      expect([batch.firstSeq, batch.lastSeq]).toEqual([next, next + BigInt(batch.count) - 1n]);
      next = batch.lastSeq + 1n;
    }
    const counted = await ctx().pool.query(
      "SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM audit_events",
    );
    expect(counted.rows[0]).toEqual({ n: start.seq + 7999n, lo: 1n, hi: start.seq + 7999n });
    const progress: number[] = [];
    const verified = await verifyAuditChain(app, {
      pageSize: 1000,
      onProgress: (p) => progress.push(p.checked),
    });
    expect(verified).toEqual({ ok: true, headSeq: 8000n, headHash: batches.at(-1)?.hash, checked: 8000 });
    expect(progress).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000]);
  }, 60_000);

  it("refuses UPDATE, DELETE and TRUNCATE of the trail to the application role, and to anyone via the trigger", async () => {
    const denied = { code: "42501" };
    await expect(app.execute(sql`UPDATE audit_events SET actor = 'x' WHERE seq = 1`)).rejects.toMatchObject({
      cause: { ...denied, message: "permission denied for table audit_events" },
    });
    await expect(app.execute(sql`DELETE FROM audit_events WHERE seq = 1`)).rejects.toMatchObject({
      cause: denied,
    });
    await expect(app.execute(sql`TRUNCATE audit_events`)).rejects.toMatchObject({ cause: denied });
    await expect(app.execute(sql`DELETE FROM audit_chain_head`)).rejects.toMatchObject({ cause: denied });
    await expect(ctx().pool.query("UPDATE audit_events SET actor = 'x' WHERE seq = 1")).rejects.toMatchObject(
      {
        ...denied,
        message: "audit_events is append-only: UPDATE is not allowed",
      },
    );
    await expect(ctx().pool.query("DELETE FROM audit_events WHERE seq = 1")).rejects.toMatchObject({
      message: "audit_events is append-only: DELETE is not allowed",
    });
    await expect(ctx().pool.query("TRUNCATE audit_events")).rejects.toMatchObject({
      message: "audit_events is append-only: TRUNCATE is not allowed",
    });
    await expect(ctx().pool.query("UPDATE audit_chain_head SET seq = 5, hash = 'x'")).rejects.toMatchObject({
      message: "audit_chain_head only moves forward (seq 8000 -> 5)",
    });
    expect((await verifyAuditChain(app)).ok).toBe(true);
  });

  it("finds a row rewritten behind its back, names its seq, and verifies from a later seq", async () => {
    const original = (await ctx().pool.query("SELECT * FROM audit_events WHERE seq = 1234")).rows[0];
    await tamper((c) => c.query(`UPDATE audit_events SET payload = '{"costMicros":"1"}' WHERE seq = 1234`));
    const broken = await verifyAuditChain(app);
    expect(broken).toMatchObject({ ok: false, badSeq: 1234n, checked: 1233 });
    expect(broken.ok ? "" : broken.reason).toMatch(
      new RegExp(
        `^hash mismatch: seq 1234 stores hash ${original.hash} but its contents hash to [0-9a-f]{64}$`,
      ),
    );
    expect(await verifyAuditChain(app, { fromSeq: 1234n })).toMatchObject({
      ok: false,
      badSeq: 1234n,
      checked: 0,
    });
    expect(await verifyAuditChain(app, { fromSeq: 1235n })).toMatchObject({
      ok: true,
      headSeq: 8000n,
      checked: 6766,
    });
    expect(await verifyAuditChain(app, { fromSeq: 9000n })).toMatchObject({ ok: true, checked: 0 });

    // A careful attacker also recomputes the row's hash: the next row's link still gives it away.
    const text = auditRecordText({
      seq: 1234n,
      type: original.event_type,
      requestId: original.request_id,
      preauthId: original.preauth_id,
      accountId: original.account_id,
      providerId: original.provider_id,
      actor: original.actor,
      payload: '{"costMicros":"1"}',
      recordedAt: (
        await ctx().pool.query(
          `SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM audit_events WHERE seq = 1234`,
        )
      ).rows[0].at,
    });
    const forged = auditHash(original.prev_hash, text);
    await tamper((c) => c.query("UPDATE audit_events SET hash = $1 WHERE seq = 1234", [forged]));
    expect(await verifyAuditChain(app)).toEqual({
      ok: false,
      badSeq: 1235n,
      reason: `prev_hash mismatch: seq 1235 stores prev_hash ${original.hash} but the hash of seq 1234 is ${forged}`,
      checked: 1234,
    });

    await tamper((c) =>
      c.query("UPDATE audit_events SET payload = $1, hash = $2 WHERE seq = 1234", [
        original.payload,
        original.hash,
      ]),
    );
    expect((await verifyAuditChain(app)).ok).toBe(true);
  });

  it("finds a deleted row and a deleted tail", async () => {
    // Kept in the database: a round trip through JS Date would lose recorded_at's microseconds.
    await tamper(async (c) => {
      await c.query("CREATE TABLE audit_saved AS SELECT * FROM audit_events WHERE seq IN (77, 8000)");
      await c.query("DELETE FROM audit_events WHERE seq IN (77, 8000)");
    });
    expect(await verifyAuditChain(app)).toEqual({
      ok: false,
      badSeq: 77n,
      reason: "gap: seq 77 is missing (the next row is seq 78)",
      checked: 76,
    });
    expect(await verifyAuditChain(app, { fromSeq: 78n })).toMatchObject({ ok: false, badSeq: 77n });
    expect(await verifyAuditChain(app, { fromSeq: 79n })).toEqual({
      ok: false,
      badSeq: 8000n,
      reason: "gap: the head is at seq 8000 but the chain ends at seq 7999",
      checked: 7921,
    });
    await tamper(async (c) => {
      await c.query("INSERT INTO audit_events SELECT * FROM audit_saved");
      await c.query("DROP TABLE audit_saved");
    });
    expect(await verifyAuditChain(app)).toMatchObject({ ok: true, headSeq: 8000n, checked: 8000 });
  });

  it("logs the head at start and on every tick until stopped", async () => {
    const head = await readAuditHead(app);
    const lines: Array<[object, string]> = [];
    let second: () => void = () => {};
    const twice = new Promise<void>((resolve) => {
      second = resolve;
    });
    const stop = startAuditHeadLogger(
      app,
      {
        info(obj, msg) {
          lines.push([obj, msg]);
          if (lines.length === 2) second();
        },
      },
      20,
    );
    await twice;
    await stop();
    const logged = lines.length;
    expect(lines[0]).toEqual([
      { auditHeadSeq: head.seq.toString(), auditHeadHash: head.hash },
      "audit chain head",
    ]);
    expect(lines[1]).toEqual(lines[0]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.length).toBe(logged);
  });
});
