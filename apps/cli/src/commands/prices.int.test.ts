import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { configStoreFor } from "@heidrun/config";
import { countPriceVersions, PriceCache, type PriceCacheLoad, priceChannel } from "@heidrun/db";
import { useTestContext } from "@heidrun/testing";
import { describe, expect, it } from "vitest";
import type { CommandIo } from "../io";
import { seedPricesOnStart } from "../prices/seed";
import { prices } from "./prices";

const ctx = useTestContext();
const LITELLM = fileURLToPath(
  new URL("../../../../packages/db/src/price-import-litellm.fixture.json", import.meta.url),
);

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const config = configStoreFor(ctx(), { queue: { prefix: ctx().redisPrefix } });
  let out = "";
  let err = "";
  const io = {
    config,
    stdout: {
      write(chunk: string) {
        out += chunk;
        return true;
      },
    },
    stderr: {
      write(chunk: string) {
        err += chunk;
        return true;
      },
    },
    stopSignal: new Promise<string>(() => {}),
  } as unknown as CommandIo;
  return prices(argv, io).then((code) => ({ code, out, err }));
}

describe("heidrun prices", () => {
  it("imports nothing in a dry run, then imports and announces, then finds nothing new", async () => {
    const dry = await run(["import", LITELLM, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain("(litellm): dry run, nothing written");
    expect(dry.out).toMatch(/would create\s+5\n/);
    expect(await countPriceVersions(ctx().db)).toBe(0n);

    const cache = new PriceCache({
      db: ctx().db,
      channel: priceChannel(ctx().redisPrefix),
      subscriber: ctx().newRedis(),
      refreshIntervalMs: 60_000,
    });
    await cache.start();
    try {
      const announced = new Promise<PriceCacheLoad>((resolve) => cache.once("loaded", resolve));
      const real = await run(["import", LITELLM]);
      expect([real.code, real.err]).toEqual([0, ""]);
      expect(real.out).toMatch(/created\s+openai\/gpt-4o-mini\s+version 1\n/);
      expect(real.out).toMatch(
        /skipped\s+fractional\/fractional\/tiny-model\s+input_cost_per_token: 1\.23456789e-09 is 1234\.56789 micros per 1M tokens, not a whole number\n/,
      );
      expect(real.out).toMatch(/SUMMARY\s+PRICES\ncreated\s+5\nunchanged\s+0\nskipped\s+4\n$/);
      const load = await announced;
      expect([load.kind, load.added.length]).toEqual(["incremental", 5]);
    } finally {
      await cache.stop();
    }

    const again = await run(["import", LITELLM, "--provider", "anthropic"]);
    expect(again.out).toMatch(
      /created\s+0\nunchanged\s+1\nskipped\s+0\nother providers than anthropic\s+5\n$/,
    );
  });

  it("lists the catalog in effect as a table", async () => {
    const listed = await run(["list", "--provider", "openai"]);
    expect(listed.code).toBe(0);
    const lines = listed.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^PROVIDER\s+MODEL\s+VERSION\s+INPUT\s+OUTPUT\s+CACHED\s+CACHE WRITE\s+EFFECTIVE FROM\s+TIERS$/,
    );
    expect(lines.slice(1).map((line) => line.split(/\s{2,}/).slice(0, 7))).toEqual([
      ["openai", "gpt-4o-mini", "1", "$0.15", "$0.60", "$0.075", "-"],
      ["openai", "text-embedding-3-small", "1", "$0.02", "$0.00", "-", "-"],
    ]);
    const past = await run(["list", "--at", "2020-01-01T00:00:00Z"]);
    expect(past.out).toBe("no prices in effect at 2020-01-01T00:00:00.000Z\n");
  });

  it("refuses bad arguments and files that are no catalog", async () => {
    expect((await run([])).code).toBe(2);
    expect((await run(["import"])).code).toBe(2);
    expect((await run(["list", "--bogus"])).code).toBe(2);
    const dir = mkdtempSync(join(tmpdir(), "heidrun-prices-"));
    writeFileSync(join(dir, "bad.json"), "[1, 2]");
    const bad = await run(["import", join(dir, "bad.json")]);
    expect([bad.code, bad.err]).toEqual([
      65,
      `heidrun prices import: ${join(dir, "bad.json")}: a catalog must be a JSON object\n`,
    ]);
    expect((await run(["import", join(dir, "missing.json")])).code).toBe(66);
  });
});

describe("seedPricesOnStart", () => {
  it("seeds the example catalog only into an empty table", async () => {
    expect(await seedPricesOnStart(ctx().databaseUrl, "USD")).toBeUndefined();
    await ctx().pool.query("DELETE FROM price_versions");
    expect(await seedPricesOnStart(ctx().databaseUrl, "USD")).toMatch(
      /^heidrun: price catalog was empty: loaded 6 example prices from .*config\/prices\.example\.json$/,
    );
    expect(await countPriceVersions(ctx().db)).toBe(6n);
  });
});
