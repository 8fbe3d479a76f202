import { useTestContext } from "@heidrun/testing";
import { afterAll, describe, expect, it } from "vitest";
import { createPool } from "./pool";

const ctx = useTestContext();
const pools: ReturnType<typeof createPool>[] = [];
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
});

describe("createPool", () => {
  it("lets PostgreSQL end a transaction left idle, releasing its locks for everyone else", async () => {
    const stuck = createPool(ctx().databaseUrl, { max: 1, idleInTransactionTimeoutMs: 300 });
    const other = createPool(ctx().databaseUrl, { max: 1 });
    pools.push(stuck, other);
    await other.query("CREATE TABLE idle_probe (id int PRIMARY KEY, n int NOT NULL)");
    await other.query("INSERT INTO idle_probe VALUES (1, 0)");

    const client = await stuck.connect();
    const terminated = new Promise<Error>((resolve) => client.once("error", resolve));
    await client.query("BEGIN");
    await client.query("UPDATE idle_probe SET n = n + 1 WHERE id = 1");
    // The transaction now holds the row lock and sends nothing, as a frozen process would.
    await other.query("UPDATE idle_probe SET n = n + 10 WHERE id = 1");
    expect((await terminated).message).toMatch(/idle-in-transaction timeout/);
    client.release(true);
    // The stuck transaction's update was rolled back; the other one's went through.
    expect((await other.query("SELECT n FROM idle_probe")).rows).toEqual([{ n: 10 }]);
  });
});
