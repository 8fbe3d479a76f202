/**
 * How many requests one core can price and split: calculateCost (compiled price, long-context tier, prompt
 * caching) on realistic requests and on the largest the contract allows (10^12 tokens at 10^12 micros per 1M
 * tokens), and splitCommission. The warm-up mixes both kinds, as production would: one huge request must not
 * slow every later one down.
 *
 *   npx tsx bench/core-pricing.bench.ts [--quick]
 *
 * Prints one JSON line ({path, heidrun, unit, goal, pass, ...}) and one readable line. `run` is exported for
 * a bench runner that imports it.
 */
import { pathToFileURL } from "node:url";
import { type CompiledPrice, calculateCost, compilePrice, splitCommission, type Usage } from "@heidrun/core";

export interface CorePricingBenchResult {
  path: string;
  /** calculateCost calls per second on one core. */
  heidrun: number;
  unit: string;
  /** What passes, in words (the shared shape of bench/lib/result.ts). */
  goal: string;
  pass: boolean;
  calculateCostPerSecond: number;
  /** calculateCost with every count and price near the contract's maximum. */
  calculateCostExtremePerSecond: number;
  splitCommissionPerSecond: number;
  seconds: number;
}

const GOAL_PER_SECOND = 1_000_000;
const BATCH = 1024;

// Claude Sonnet 4 list prices (see docs/formulas.md): a base level and a >200k-token tier, so the tier scan runs.
const SONNET_4 = compilePrice({
  providerId: "anthropic",
  model: "claude-sonnet-4",
  inputMicrosPerMtok: 3_000_000n,
  outputMicrosPerMtok: 15_000_000n,
  cachedInputMicrosPerMtok: 300_000n,
  cacheWriteMicrosPerMtok: 3_750_000n,
  tiers: [
    {
      aboveInputTokens: 200_000n,
      input: 6_000_000n,
      output: 22_500_000n,
      cachedInput: 600_000n,
      cacheWrite: 7_500_000n,
    },
  ],
  effectiveFrom: new Date("2025-08-12T00:00:00Z"),
  version: 1n,
  currency: "USD",
});

const EXTREME = compilePrice({
  providerId: "bench",
  model: "*",
  inputMicrosPerMtok: 999_999_999_999n,
  outputMicrosPerMtok: 1_000_000_000_000n,
  cachedInputMicrosPerMtok: 999_999_999_997n,
  cacheWriteMicrosPerMtok: 999_999_999_991n,
  tiers: [{ aboveInputTokens: 999_999_000_000n, input: 1_000_000_000_000n }],
  effectiveFrom: new Date("2025-01-01T00:00:00Z"),
  version: 1n,
  currency: "USD",
});

function makeExtremeUsages(count: number): Usage[] {
  return Array.from({ length: count }, (_, i) => ({
    inputTokens: 1_000_000_000_000n - BigInt(i * 977),
    outputTokens: 1_000_000_000_000n - BigInt(i * 13),
    cachedInputTokens: 333_333_333_333n + BigInt(i),
    cacheWriteTokens: 111_111_111_111n - BigInt(i),
  }));
}

/** Varied, deterministic usages (a small LCG), so no call is a repeat of the last one. */
function makeUsages(count: number): Usage[] {
  const usages: Usage[] = [];
  let seed = 12_345n;
  const next = (bound: bigint) => {
    seed = (seed * 6_364_136_223_846_793_005n + 1_442_695_040_888_963_407n) & 0xffff_ffff_ffff_ffffn;
    return (seed >> 20n) % bound;
  };
  for (let i = 0; i < count; i++) {
    const inputTokens = next(400_000n);
    const cachedInputTokens = next(inputTokens / 2n + 1n);
    const cacheWriteTokens = next(inputTokens - cachedInputTokens + 1n);
    usages.push({ inputTokens, outputTokens: next(8_000n), cachedInputTokens, cacheWriteTokens });
  }
  return usages;
}

/** Calls `batch` in a loop for `seconds`, reading the clock once per batch; returns calls per second. */
function measure(seconds: number, batch: () => void): number {
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  let calls = 0;
  let now = start;
  while (now < deadline) {
    batch();
    calls += BATCH;
    now = performance.now();
  }
  return (calls * 1000) / (now - start);
}

export function run(opts: { quick: boolean }): CorePricingBenchResult {
  const usages = makeUsages(BATCH);
  const extremeUsages = makeExtremeUsages(BATCH);
  const totals = usages.map((usage) => calculateCost(usage, SONNET_4).totalCostMicros);
  const pricing = (batchUsages: Usage[], price: CompiledPrice) => () => {
    for (let i = 0; i < BATCH; i++) {
      // Reading a field and checking it keeps the call observable, so it cannot be optimized away.
      if (calculateCost(batchUsages[i]!, price).roundingMicros < 0n) throw new Error("negative rounding");
    }
  };
  const pricingBatch = pricing(usages, SONNET_4);
  const extremeBatch = pricing(extremeUsages, EXTREME);
  const splitBatch = () => {
    for (let i = 0; i < BATCH; i++) {
      if (splitCommission(totals[i]!, 1500).companyFeeMicros < 0n) throw new Error("negative fee");
    }
  };
  const warmUp = opts.quick ? 0.3 : 1;
  const seconds = opts.quick ? 1 : 3;
  measure(warmUp / 2, extremeBatch);
  measure(warmUp / 2, pricingBatch);
  const calculateCostPerSecond = Math.round(measure(seconds, pricingBatch));
  const calculateCostExtremePerSecond = Math.round(measure(seconds / 2, extremeBatch));
  measure(warmUp, splitBatch);
  const splitCommissionPerSecond = Math.round(measure(seconds, splitBatch));
  return {
    path: "core/calculateCost",
    heidrun: calculateCostPerSecond,
    unit: "calculations/s (1 core)",
    goal: ">= 1,000,000/s (calculateCost, extreme inputs, splitCommission each)",
    pass: [calculateCostPerSecond, calculateCostExtremePerSecond, splitCommissionPerSecond].every(
      (perSecond) => perSecond >= GOAL_PER_SECOND,
    ),
    calculateCostPerSecond,
    calculateCostExtremePerSecond,
    splitCommissionPerSecond,
    seconds,
  };
}

function readable(result: CorePricingBenchResult): string {
  const perSecond = (n: number) => `${(n / 1e6).toFixed(2)} M/s`;
  return (
    `core pricing: calculateCost ${perSecond(result.calculateCostPerSecond)} ` +
    `(${perSecond(result.calculateCostExtremePerSecond)} at 10^12 tokens × 10^12 micros/Mtok), ` +
    `splitCommission ${perSecond(result.splitCommissionPerSecond)} on one core ` +
    `(goal ${perSecond(GOAL_PER_SECOND)} each): ${result.pass ? "PASS" : "FAIL"}`
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = run({ quick: process.argv.includes("--quick") });
  console.log(JSON.stringify(result));
  console.log(readable(result));
  if (!result.pass) process.exitCode = 1;
}
