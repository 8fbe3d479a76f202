import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { databaseName, withDatabase } from "./pool";

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../../drizzle", import.meta.url));

/** Any constant works; it only has to be the same in every process that migrates. */
const MIGRATION_LOCK_KEY = 0x48454944; // "HEID"

/** Creates the database of `url` when the server has none of that name; safe to race. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const name = databaseName(url);
  const admin = new pg.Client({ connectionString: withDatabase(url, "postgres") });
  await admin.connect();
  try {
    const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount) return false;
    try {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return true;
    } catch (error) {
      // 42P04 duplicate_database, 23505 the catalog's unique index: another process created it first.
      const code = (error as { code?: string }).code;
      if (code === "42P04" || code === "23505") return false;
      throw error;
    }
  } finally {
    await admin.end();
  }
}

export interface MigrationResult {
  createdDatabase: boolean;
  applied: number;
}

/**
 * Applies the drizzle-kit migrations. An advisory lock makes concurrent runs wait for each other, so the
 * second finds everything applied.
 */
export async function runMigrations(url: string, folder = MIGRATIONS_FOLDER): Promise<MigrationResult> {
  const createdDatabase = await ensureDatabase(url);
  const client = new pg.Client({ connectionString: url, application_name: "heidrun-migrate" });
  await client.connect();
  try {
    await client.query("SET client_min_messages = warning");
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    const before = await countApplied(client);
    await migrate(drizzle(client), { migrationsFolder: folder, migrationsSchema: "drizzle" });
    const after = await countApplied(client);
    return { createdDatabase, applied: after - before };
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    await client.end();
  }
}

async function countApplied(client: pg.Client): Promise<number> {
  const exists = await client.query("SELECT to_regclass('drizzle.__drizzle_migrations') AS t");
  if (!exists.rows[0]?.t) return 0;
  const result = await client.query("SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations");
  return result.rows[0].n as number;
}
