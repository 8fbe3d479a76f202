import { readFileSync } from "node:fs";
import { join } from "node:path";
import { resolveServices, uniqueSuffix } from "@heidrun/testing";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER, runMigrations } from "./migrate";
import { withDatabase } from "./pool";

const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta/_journal.json"), "utf8")) as {
  entries: unknown[];
};
let created: string | undefined;
let serverUrl: string | undefined;

afterAll(async () => {
  if (!created || !serverUrl) return;
  const admin = new pg.Client({ connectionString: withDatabase(serverUrl, "postgres") });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(created)} WITH (FORCE)`);
  await admin.end();
});

describe("runMigrations", () => {
  it("creates the database, and two runs at once both succeed applying the schema once", async () => {
    serverUrl = (await resolveServices()).databaseUrl;
    created = `heidrun_migrate_${uniqueSuffix()}`;
    const url = withDatabase(serverUrl, created);

    const results = await Promise.all([runMigrations(url), runMigrations(url)]);

    expect(results.filter((r) => r.createdDatabase)).toHaveLength(1);
    expect(results.map((r) => r.applied).sort()).toEqual([0, journal.entries.length]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query("SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations");
    await client.end();
    expect(rows[0].n).toBe(journal.entries.length);

    expect(await runMigrations(url)).toEqual({ createdDatabase: false, applied: 0 });
  });
});
