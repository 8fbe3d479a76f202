import { parseArgs } from "node:util";
import type { ConfigStore } from "@heidrun/config";
import {
  type AuditAnchor,
  type AuditVerifyProgress,
  checkAuditAnchor,
  createDb,
  createPool,
  readAuditHead,
  verifyAuditChain,
} from "@heidrun/db";

export interface AuditCommandIo {
  config: ConfigStore;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Exit codes: 0 verified (or printed), 1 the chain is broken, 2 could not run (bad arguments, database error). */
const OK = 0;
const BROKEN = 1;
const FAILED = 2;

const VERIFY_USAGE =
  "usage: heidrun audit verify [--from SEQ] [--anchor SEQ:HASH]... [--progress-every ROWS]";
const HEAD_USAGE = "usage: heidrun audit head [--json]";
const MAX_PAGE_SIZE = 5000;

function positiveInteger(raw: string | undefined, name: string): bigint | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9][0-9]{0,18}$/.test(raw))
    throw new UsageError(`--${name} must be a positive integer, got "${raw}"`);
  return BigInt(raw);
}

function positiveCount(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(raw))
    throw new UsageError(`--${name} must be a positive integer below 1e9, got "${raw}"`);
  return Number.parseInt(raw, 10);
}

function anchorOf(raw: string): AuditAnchor {
  const match = /^([1-9][0-9]{0,18}):([0-9a-f]{64})$/.exec(raw);
  if (!match?.[1] || !match[2])
    throw new UsageError(`--anchor must be SEQ:HASH (64 hex digits), got "${raw}"`);
  return { seq: BigInt(match[1]), hash: match[2] };
}

class UsageError extends Error {}

/** Runs node:util parseArgs, turning its complaints into usage errors. */
function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function withDb<T>(
  io: AuditCommandIo,
  name: string,
  use: (db: ReturnType<typeof createDb>) => Promise<T>,
) {
  // Reads only: one connection is enough, and a page of rows is far below the pool's statement timeout.
  const pool = createPool(io.config.current().databaseUrl, { max: 1, applicationName: `heidrun-${name}` });
  try {
    return await use(createDb(pool));
  } finally {
    await pool.end();
  }
}

/** Drizzle wraps driver errors in "Failed query: <sql>"; the operator needs the driver's reason. */
function rootMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

function fail(io: AuditCommandIo, command: string, usage: string, error: unknown): number {
  if (error instanceof UsageError) {
    io.stderr.write(`${error.message}\n${usage}\n`);
  } else {
    io.stderr.write(`heidrun audit ${command} failed: ${rootMessage(error)}\n`);
  }
  return FAILED;
}

/**
 * `heidrun audit verify [--from SEQ] [--anchor SEQ:HASH]...`: recomputes the hash chain up to the current head,
 * then checks each anchor (a head copied out earlier) against it.
 */
export async function auditVerify(argv: string[], io: AuditCommandIo): Promise<number> {
  try {
    const { values } = parsed(() =>
      parseArgs({
        args: argv,
        options: {
          from: { type: "string" },
          anchor: { type: "string", multiple: true },
          "progress-every": { type: "string" },
        },
      }),
    );
    const anchors = (values.anchor ?? []).map(anchorOf);
    const fromSeq = positiveInteger(values.from, "from") ?? 1n;
    const every = positiveCount(values["progress-every"], "progress-every") ?? 100_000;
    const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
    let nextLine = every;
    let drewProgress = false;
    const onProgress = ({ checked, seq, headSeq }: AuditVerifyProgress) => {
      const total = headSeq - fromSeq + 1n;
      const text = `verified ${checked} of ${total} events (up to seq ${seq})`;
      if (tty) {
        io.stderr.write(`\r${text}`);
        drewProgress = true;
      } else if (checked >= nextLine) {
        io.stderr.write(`${text}\n`);
        nextLine = (Math.floor(checked / every) + 1) * every;
      }
    };
    // Pages no bigger than the progress step, so a line appears at every step.
    const pageSize = Math.min(every, MAX_PAGE_SIZE);
    const { result, anchorProblems } = await withDb(io, "audit-verify", async (db) => {
      const result = await verifyAuditChain(db, { fromSeq, pageSize, onProgress });
      const anchorProblems: string[] = [];
      for (const anchor of result.ok ? anchors : []) {
        const checked = await checkAuditAnchor(db, anchor);
        if (!checked.ok) anchorProblems.push(checked.reason);
      }
      return { result, anchorProblems };
    });
    // Clear the progress line so the verdict starts at column 0.
    if (drewProgress) io.stderr.write("\r\x1b[2K");
    if (!result.ok) {
      io.stdout.write(
        `audit chain BROKEN at seq ${result.badSeq}: ${result.reason}\n` +
          `${result.checked} events verified before the break\n`,
      );
      return BROKEN;
    }
    if (anchorProblems.length > 0) {
      io.stdout.write(`audit chain BROKEN: ${anchorProblems.join("\n")}\n`);
      return BROKEN;
    }
    const range = result.checked === 0 ? "nothing to verify" : `seq ${fromSeq}..${result.headSeq}`;
    io.stdout.write(
      `audit chain ok: ${result.checked} events verified (${range})` +
        (anchors.length > 0 ? `, ${anchors.length} anchors match\n` : "\n") +
        `head seq ${result.headSeq} hash ${result.headHash}\n`,
    );
    return OK;
  } catch (error) {
    return fail(io, "verify", VERIFY_USAGE, error);
  }
}

/**
 * `heidrun audit head [--json]`: the current chain head, to copy somewhere Heidrun cannot write; the `anchor`
 * line is what `verify --anchor` takes later.
 */
export async function auditHead(argv: string[], io: AuditCommandIo): Promise<number> {
  try {
    const { values } = parsed(() => parseArgs({ args: argv, options: { json: { type: "boolean" } } }));
    const head = await withDb(io, "audit-head", readAuditHead);
    io.stdout.write(
      values.json
        ? `${JSON.stringify({ seq: head.seq.toString(), hash: head.hash })}\n`
        : `seq ${head.seq}\nhash ${head.hash}\nanchor ${head.seq}:${head.hash}\n`,
    );
    return OK;
  } catch (error) {
    return fail(io, "head", HEAD_USAGE, error);
  }
}
