import { readFileSync } from "node:fs";
import { useTestContext } from "@heidrun/testing";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { importPrices, parsePriceFile, seedExampleCatalogIfEmpty } from "./price-import";
import { countPriceVersions, loadPriceVersions, pricesInEffect } from "./prices";

const ctx = useTestContext();
const LITELLM = readFileSync(new URL("./price-import-litellm.fixture.json", import.meta.url), "utf8");
const NOW = new Date("2025-06-01T00:00:00.000Z");
const options = { actor: "cli:test", now: () => NOW };

async function auditCount(): Promise<number> {
  const result = await ctx().db.execute(
    sql`SELECT count(*)::int AS n FROM audit_events WHERE event_type = 'price.set'`,
  );
  return (result.rows[0] as { n: number }).n;
}

// One file, in order: the tests build on each other's catalog, as successive imports would.
describe("importPrices from LiteLLM's catalog", () => {
  it("writes nothing in a dry run, and reports what it would do", async () => {
    const report = await importPrices(ctx().db, parsePriceFile(LITELLM), { ...options, dryRun: true });
    expect([report.dryRun, report.created, report.unchanged, report.skipped, report.createdIds]).toEqual([
      true,
      5,
      0,
      4,
      [],
    ]);
    expect(await countPriceVersions(ctx().db)).toBe(0n);
  });

  it("creates versions with exact micros, audited and announced, skipping with reasons", async () => {
    const announced: bigint[][] = [];
    const progress: string[] = [];
    const report = await importPrices(ctx().db, parsePriceFile(LITELLM), {
      ...options,
      publish: async (ids) => {
        announced.push(ids);
      },
      onProgress: (done, total) => progress.push(`${done}/${total}`),
    });
    expect([report.created, report.unchanged, report.skipped]).toEqual([5, 0, 4]);
    expect(progress).toEqual(["1/6", "2/6", "3/6", "4/6", "5/6", "6/6"]);
    expect(report.outcomes.filter((o) => o.status === "skipped")).toEqual([
      {
        label: "openai/dall-e-3",
        status: "skipped",
        reason: "no per-token input and output price (mode image_generation)",
      },
      {
        label: "fractional/fractional/tiny-model",
        status: "skipped",
        reason: "input_cost_per_token: 1.23456789e-09 is 1234.56789 micros per 1M tokens, not a whole number",
      },
      {
        label: "fractional/fractional/float-noise",
        status: "skipped",
        reason:
          "input_cost_per_token: 3.0000000000000004e-07 is 300000.00000000004 micros per 1M tokens, not a whole number",
      },
      {
        label: "openai/openai model with spaces",
        status: "skipped",
        reason: expect.stringMatching(/^price\.model: /),
      },
    ]);
    const stored = await loadPriceVersions(ctx().db);
    expect(announced).toEqual([stored.map((p) => p.id)]);
    const sonnet = stored.find((p) => p.model === "claude-sonnet-4-20250514");
    expect(sonnet).toMatchObject({
      providerId: "anthropic",
      version: 1n,
      inputMicrosPerMtok: 3_000_000n,
      outputMicrosPerMtok: 15_000_000n,
      cachedInputMicrosPerMtok: 300_000n,
      cacheWriteMicrosPerMtok: 3_750_000n,
      effectiveFrom: NOW,
      currency: "USD",
      tiers: [
        {
          aboveInputTokens: 200_000n,
          input: 6_000_000n,
          output: 22_500_000n,
          cachedInput: 600_000n,
          cacheWrite: 7_500_000n,
        },
      ],
    });
    const deepseek = stored.find((p) => p.providerId === "deepseek");
    expect([deepseek?.inputMicrosPerMtok, deepseek?.outputMicrosPerMtok]).toEqual([270_000n, 1_100_000n]);
    expect(await auditCount()).toBe(5);
  });

  it("is a no-op when imported again", async () => {
    const report = await importPrices(ctx().db, parsePriceFile(LITELLM), {
      ...options,
      now: () => new Date("2025-07-01T00:00:00Z"),
    });
    expect([report.created, report.unchanged, report.skipped, report.createdIds]).toEqual([0, 5, 4, []]);
    expect(await countPriceVersions(ctx().db)).toBe(5n);
    expect(await auditCount()).toBe(5);
  });

  it("adds a version only for what changed, and only for the provider asked for", async () => {
    const changed = LITELLM.replace(
      '"input_cost_per_token": 1.5e-07',
      '"input_cost_per_token": 1.6e-07',
    ).replace('"input_cost_per_token": 3e-06', '"input_cost_per_token": 3.5e-06');
    const later = new Date("2025-08-01T00:00:00Z");
    const report = await importPrices(ctx().db, parsePriceFile(changed), {
      ...options,
      provider: "openai",
      now: () => later,
    });
    expect([report.created, report.unchanged, report.skipped, report.ignored]).toEqual([1, 1, 2, 3]);
    expect(report.outcomes.find((o) => o.status === "created")).toEqual({
      label: "openai/gpt-4o-mini",
      status: "created",
      version: 2n,
    });
    const [mini] = await pricesInEffect(ctx().db, later, "openai");
    expect([mini?.model, mini?.version, mini?.inputMicrosPerMtok]).toEqual(["gpt-4o-mini", 2n, 160_000n]);
    const [before] = await pricesInEffect(ctx().db, NOW, "openai");
    expect([before?.version, before?.inputMicrosPerMtok]).toEqual([1n, 150_000n]);
  });
});

describe("seedExampleCatalogIfEmpty", () => {
  it("leaves a catalog that has prices alone", async () => {
    expect(await seedExampleCatalogIfEmpty(ctx().db, options)).toBeUndefined();
  });

  it("loads the example catalog into an empty table", async () => {
    await ctx().pool.query("DELETE FROM price_versions");
    const report = await seedExampleCatalogIfEmpty(ctx().db, { actor: "seed" });
    expect([report?.format, report?.created, report?.skipped]).toEqual(["heidrun-json", 6, 0]);
    const prices = await pricesInEffect(ctx().db, NOW);
    expect(
      prices.map((p) => `${p.providerId}/${p.model}:${p.inputMicrosPerMtok}/${p.outputMicrosPerMtok}`),
    ).toEqual([
      "anthropic/claude-haiku-3.5:800000/4000000",
      "anthropic/claude-sonnet-4:3000000/15000000",
      "example-hosted/*:200000/600000",
      "google/gemini-2.5-pro:1250000/10000000",
      "openai/gpt-4o:2500000/10000000",
      "openai/gpt-4o-mini:150000/600000",
    ]);
    expect(await seedExampleCatalogIfEmpty(ctx().db, { actor: "seed" })).toBeUndefined();
  });
});
