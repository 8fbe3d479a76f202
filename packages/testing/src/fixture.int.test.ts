import { describe, expect, it } from "vitest";
import { createTestContext } from "./fixture";
import { useTestContext } from "./vitest";

const ctx = useTestContext();

describe("test context", () => {
  it("gives this file a migrated database of its own", async () => {
    const { rows } = await ctx().pool.query(
      "SELECT current_database() AS name, (SELECT count(*) FROM drizzle.__drizzle_migrations) AS applied",
    );
    expect(rows[0].name).toMatch(/^heidrun_test_/);
    expect(rows[0].applied).toBeGreaterThan(0n);
    const tables = await ctx().pool.query("SELECT to_regclass('public.settlements') AS t");
    expect(tables.rows[0].t).toBe("settlements");
  });

  it("gives two contexts different databases and Redis prefixes, and drops the database on close", async () => {
    const other = await createTestContext();
    const otherName = (await other.pool.query("SELECT current_database() AS n")).rows[0].n;
    const mine = (await ctx().pool.query("SELECT current_database() AS n")).rows[0].n;
    expect(otherName).not.toBe(mine);
    expect(other.redisPrefix).not.toBe(ctx().redisPrefix);
    await other.redis.set(`${other.redisPrefix}:probe`, "1");
    await other.close();
    const left = await ctx().pool.query("SELECT count(*) AS n FROM pg_database WHERE datname = $1", [
      otherName,
    ]);
    expect(left.rows[0].n).toBe(0n);
    expect(await ctx().redis.exists(`${other.redisPrefix}:probe`)).toBe(0);
  });
});
