import { Writable } from "node:stream";
import { type ConfigStore, loadConfig } from "@heidrun/config";
import { type AuditEventInput, appendAudit, readAuditHead } from "@heidrun/db";
import { useTestContext } from "@heidrun/testing";
import { beforeAll, describe, expect, it } from "vitest";
import { auditHead, auditVerify } from "./audit";

const ctx = useTestContext();
let config: ConfigStore;

class Captured extends Writable {
  text = "";
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer, _encoding: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

async function run(command: typeof auditVerify, argv: string[], options: { tty?: boolean } = {}) {
  const stdout = new Captured();
  const stderr = new Captured(options.tty);
  const code = await command(argv, { config, stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

beforeAll(async () => {
  config = loadConfig({ DATABASE_URL: ctx().databaseUrl });
  const events: AuditEventInput[] = Array.from({ length: 5 }, (_, i) => ({
    type: "settlement.settled",
    requestId: `req-${i + 1}`,
    actor: "worker",
    data: { totalCostMicros: BigInt(i) * 1_000_000n },
  }));
  await ctx().db.transaction((tx) => appendAudit(tx, events));
});

describe("heidrun audit", () => {
  it("head prints the seq and hash, or one JSON line", async () => {
    const head = await readAuditHead(ctx().db);
    expect(await run(auditHead, [])).toEqual({
      code: 0,
      stdout: `seq 5\nhash ${head.hash}\nanchor 5:${head.hash}\n`,
      stderr: "",
    });
    expect(await run(auditHead, ["--json"])).toEqual({
      code: 0,
      stdout: `{"seq":"5","hash":"${head.hash}"}\n`,
      stderr: "",
    });
  });

  it("verify exits 0 on an unbroken chain, with a progress line per step when not on a terminal", async () => {
    const head = await readAuditHead(ctx().db);
    expect(await run(auditVerify, ["--progress-every", "2"])).toEqual({
      code: 0,
      stdout: `audit chain ok: 5 events verified (seq 1..5)\nhead seq 5 hash ${head.hash}\n`,
      stderr: "verified 2 of 5 events (up to seq 2)\nverified 4 of 5 events (up to seq 4)\n",
    });
    expect(await run(auditVerify, ["--from", "4"])).toMatchObject({
      code: 0,
      stdout: `audit chain ok: 2 events verified (seq 4..5)\nhead seq 5 hash ${head.hash}\n`,
    });
    expect(await run(auditVerify, ["--from", "9"])).toMatchObject({
      code: 0,
      stdout: `audit chain ok: 0 events verified (nothing to verify)\nhead seq 5 hash ${head.hash}\n`,
    });
  });

  it("verify checks anchors taken earlier: a match passes, a different hash or a lost seq fails", async () => {
    const head = await readAuditHead(ctx().db);
    const at3 = (await ctx().pool.query("SELECT hash FROM audit_events WHERE seq = 3")).rows[0]
      .hash as string;
    expect(await run(auditVerify, ["--anchor", `3:${at3}`, "--anchor", `5:${head.hash}`])).toEqual({
      code: 0,
      stdout: `audit chain ok: 5 events verified (seq 1..5), 2 anchors match\nhead seq 5 hash ${head.hash}\n`,
      stderr: "",
    });
    const other = "f".repeat(64);
    expect(await run(auditVerify, ["--anchor", `3:${other}`, "--anchor", `9:${other}`])).toEqual({
      code: 1,
      stdout:
        `audit chain BROKEN: anchor mismatch at seq 3: anchored hash ${other} but the trail has ${at3}\n` +
        "anchor seq 9 is not in the trail (head seq 5): events were lost since it was anchored\n",
      stderr: "",
    });
    expect((await run(auditVerify, ["--anchor", "3:abc"])).stderr).toBe(
      '--anchor must be SEQ:HASH (64 hex digits), got "3:abc"\n' +
        "usage: heidrun audit verify [--from SEQ] [--anchor SEQ:HASH]... [--progress-every ROWS]\n",
    );
  });

  it("verify redraws one progress line on a terminal and clears it", async () => {
    const result = await run(auditVerify, ["--progress-every", "3"], { tty: true });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      "\rverified 3 of 5 events (up to seq 3)\rverified 5 of 5 events (up to seq 5)\r\x1b[2K",
    );
  });

  it("verify exits 1 and names the first bad seq and what differs", async () => {
    const client = await ctx().pool.connect();
    const stored = (await client.query("SELECT hash FROM audit_events WHERE seq = 3")).rows[0].hash as string;
    const rewrite = async (payload: string) => {
      await client.query("BEGIN");
      await client.query("SET LOCAL session_replication_role = replica");
      await client.query("UPDATE audit_events SET payload = $1 WHERE seq = 3", [payload]);
      await client.query("COMMIT");
    };
    const original = (await client.query("SELECT payload FROM audit_events WHERE seq = 3")).rows[0].payload;
    try {
      await rewrite('{"totalCostMicros":"1"}');
      const result = await run(auditVerify, []);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(
        new RegExp(
          `^audit chain BROKEN at seq 3: hash mismatch: seq 3 stores hash ${stored} but its contents hash to [0-9a-f]{64}\\n` +
            "2 events verified before the break\\n$",
        ),
      );
      expect((await run(auditVerify, ["--from", "4"])).code).toBe(0);
    } finally {
      await rewrite(original);
      client.release();
    }
    expect((await run(auditVerify, [])).code).toBe(0);
  });

  it("exits 2 with usage on bad arguments and a message when the database is unreachable", async () => {
    expect(await run(auditVerify, ["--from", "0"])).toEqual({
      code: 2,
      stdout: "",
      stderr:
        '--from must be a positive integer, got "0"\n' +
        "usage: heidrun audit verify [--from SEQ] [--anchor SEQ:HASH]... [--progress-every ROWS]\n",
    });
    expect((await run(auditVerify, ["--frm", "3"])).stderr).toMatch(/^Unknown option '--frm'/);
    expect((await run(auditHead, ["extra"])).code).toBe(2);
    const saved = config;
    config = loadConfig({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" });
    try {
      const result = await run(auditHead, []);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^heidrun audit head failed: connect ECONNREFUSED 127\.0\.0\.1:1\n$/);
    } finally {
      config = saved;
    }
  });
});
