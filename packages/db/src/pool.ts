import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as schema from "./schema";

export type Schema = typeof schema;
export type Db = NodePgDatabase<Schema>;
/** A transaction handle; query functions take `Db | Tx` so callers choose the transaction. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
export type DbOrTx = Db | Tx;

// Postgres bigint (int8) and numeric come back as strings by default; money must never pass through number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => BigInt(value));

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  /** Run every connection as this role (e.g. the application role that cannot rewrite the audit trail). */
  role?: "heidrun_app";
  statementTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /**
   * PostgreSQL ends a transaction left idle this long (its process frozen, its event loop blocked). Every
   * writer takes the audit chain head, so one stuck transaction would otherwise stall the whole fleet until
   * its process died; Heidrun's transactions never wait on anything but their own statements.
   */
  idleInTransactionTimeoutMs?: number;
}

export function createPool(url: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 20,
    application_name: options.applicationName ?? "heidrun",
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    // Set at connection start, so no statement ever runs with more than the role's (lesser) rights.
    ...(options.role ? { options: `-c role=${options.role}` } : {}),
  });
  // An idle client's error (server restart) must not crash the process; the pool drops that client.
  pool.on("error", () => {});
  // A client that is checked out (a transaction between two statements) has no pool listener: when its server
  // dies it emits 'error' unheard, which kills the process. The failure still reaches the caller through its
  // query, and the pool discards the client on release (it is no longer queryable).
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}

export function createDb(pool: pg.Pool): Db {
  return drizzle(pool, { schema });
}

/** The name of the database in a connection URL. */
export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  if (!name) throw new Error(`DATABASE_URL names no database: ${url}`);
  return name;
}

/** The same server, another database (e.g. `postgres` for CREATE DATABASE). */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

/** Whether a PostgreSQL server answers at `url` (its `postgres` database), within `timeoutMs`. */
export async function postgresAnswers(url: string, timeoutMs = 2000): Promise<boolean> {
  const client = new pg.Client({
    connectionString: withDatabase(url, "postgres"),
    connectionTimeoutMillis: timeoutMs,
  });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
