/**
 * Token counting: does the package API keep up with the raw tokenizer, and does a big count stay off the
 * event loop?
 *
 *  - throughput (MB of UTF-8 per CPU-second, wall-clock MB/s alongside) on ~1 MB of English text: raw gpt-tokenizer o200k_base `countTokens` vs
 *    `TokenCountingService.countTokens` inline and through the worker pool (goal: ≥ 0.9× raw); the same for
 *    Claude against a reused @anthropic-ai/tokenizer instance;
 *  - event-loop delay p99 (perf_hooks.monitorEventLoopDelay) on the main thread while a 2 MiB text is counted
 *    in the pool beside a stream of small synchronous counts (goal: < 20 ms); the baseline is the same
 *    scenario with the 2 MiB count done inline.
 *
 *   npx tsx bench/tokenizers.bench.ts [--quick]
 *
 * Prints one JSON line per result ({path, heidrun, baseline, ratio, unit, goal, pass}). `run` is exported for
 * a bench runner that imports it.
 */
import { loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { getTokenizer } from "@anthropic-ai/tokenizer";
import { createTokenizerRegistry, TokenCountingService } from "@heidrun/tokenizers";
import o200k from "gpt-tokenizer/encoding/o200k_base";

export interface TokenizerBenchResult {
  path: string;
  heidrun: number;
  baseline: number;
  ratio: number;
  unit: string;
  goal: string;
  pass: boolean;
  /** Throughput results: the same figures in MB per second of wall time. */
  wallMBps?: number;
  baselineWallMBps?: number;
  /** Event-loop p99 of the small-count stream alone (no 2 MiB count): the machine's own noise. */
  streamOnlyP99?: number;
  /** 1-minute load average at the end: figures taken on a busy machine are not comparable. */
  loadAverage1m?: number;
}

const THROUGHPUT_RATIO_GOAL = 0.9;
const P99_GOAL_MS = 20;

const WORDS = (
  "the of and to in is was that for it with as his on be at by had are but from or have an they which one " +
  "you were all her she there would their we him been has when who will no more if out so said what up its " +
  "about than into them can only other new some could time these two may then do first any my now such like " +
  "our over man me even most made after also did many before must through back years where much your way " +
  "well down should because each just those people how too little state good very make world still own see " +
  "men work long get here between both life being under never day same another know while last might us " +
  "great old year off come since against go came right used take three invoice ledger settlement provider " +
  "commission account balance payment request model token usage price customer monthly report database " +
  "government development information international following different important economic political"
).split(" ");

/** ~`bytes` of deterministic English-like prose (a small LCG picks words, punctuation and paragraphs). */
export function englishText(bytes: number): string {
  let seed = 42;
  const next = (bound: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % bound;
  };
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    const words: string[] = [];
    const count = 5 + next(18);
    for (let i = 0; i < count; i++) words.push(WORDS[next(WORDS.length)]!);
    if (next(6) === 0) words.splice(next(count), 0, String(next(100_000)));
    const sentence = words.join(" ");
    const end = [". ", ". ", ". ", "? ", "! ", "; "][next(6)]!;
    const text = sentence[0]!.toUpperCase() + sentence.slice(1) + end + (next(8) === 0 ? "\n\n" : "");
    parts.push(text);
    length += text.length;
  }
  return parts.join("");
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Speed {
  /** MB per second of wall time: what a caller waits. */
  wall: number;
  /** MB per CPU-second of the whole process (worker included): the overhead, even on a shared machine. */
  cpu: number;
}

async function measureSpeed(bytes: number, count: () => unknown): Promise<Speed> {
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  await count();
  const wallSeconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { wall: bytes / 1e6 / wallSeconds, cpu: bytes / 1e6 / cpuSeconds };
}

function round(value: number, digits = 2): number {
  return Number(value.toFixed(digits));
}

/**
 * Compared on CPU time: on a busy 2-core machine wall time mostly measures the scheduler. Wall-clock
 * figures ride along for the latency a caller sees.
 */
function throughputResult(path: string, heidrun: Speed[], baseline: Speed[]): TokenizerBenchResult {
  const cpu = { heidrun: median(heidrun.map((s) => s.cpu)), baseline: median(baseline.map((s) => s.cpu)) };
  const ratio = cpu.heidrun / cpu.baseline;
  return {
    path,
    heidrun: round(cpu.heidrun),
    baseline: round(cpu.baseline),
    ratio: round(ratio, 3),
    unit: "MB per CPU-second",
    goal: `>= ${THROUGHPUT_RATIO_GOAL}x baseline`,
    pass: ratio >= THROUGHPUT_RATIO_GOAL,
    wallMBps: round(median(heidrun.map((s) => s.wall))),
    baselineWallMBps: round(median(baseline.map((s) => s.wall))),
  };
}

function nextTimer(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Event-loop delay p99 (ms) while a stream of small synchronous counts runs and, in its middle, `bigCount`.
 * The stream starts 20 ms before and stops 20 ms after, so a count that blocks the loop is recorded too.
 */
async function loopDelayP99(
  bigCount: () => Promise<unknown>,
  smallCount: () => unknown,
  rounds: number,
): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  for (let i = 0; i < rounds; i++) {
    let running = true;
    const stream = () => {
      if (!running) return;
      smallCount();
      setImmediate(stream);
    };
    setImmediate(stream);
    await nextTimer(20);
    await bigCount();
    await nextTimer(20);
    running = false;
  }
  histogram.disable();
  return histogram.percentile(99) / 1e6;
}

export async function run(opts: { quick: boolean }): Promise<TokenizerBenchResult[]> {
  const repetitions = opts.quick ? 3 : 9;
  const warmUps = opts.quick ? 2 : 5;
  const text = englishText(1_000_000);
  const bytes = Buffer.byteLength(text);
  const huge = englishText(2 * 1024 * 1024);
  const request = { providerId: "openai", model: "gpt-4o", text };

  const registry = createTokenizerRegistry();
  const inline = new TokenCountingService(registry, { offThreadThresholdBytes: Number.MAX_SAFE_INTEGER });
  const pooled = new TokenCountingService(registry, { offThreadThresholdBytes: 65_536, poolSize: 1 });
  const claude = getTokenizer();
  try {
    await Promise.all([inline.warmUp(), pooled.warmUp()]);
    const rawCount = () => o200k.countTokens(text);
    const rawClaude = () => claude.encode(text.normalize("NFKC"), "all").length;
    const expected = BigInt(rawCount());
    if ((await pooled.countTokens(request)).tokens !== expected)
      throw new Error("pool count differs from raw");
    if ((await inline.countTokens(request)).tokens !== expected)
      throw new Error("inline count differs from raw");

    for (let i = 0; i < warmUps; i++) {
      // JIT warm-up: every thread counts its first megabytes at half speed or less.
      rawCount();
      await inline.countTokens(request);
      await pooled.countTokens(request);
    }
    // Interleaved and rotated each repetition, so drift and the previous variant's background GC work
    // (which process CPU time also counts) fall on every variant alike.
    const samples = { raw: [] as Speed[], inline: [] as Speed[], pool: [] as Speed[] };
    const claudeSamples = { raw: [] as Speed[], inline: [] as Speed[] };
    const claudeRequest = { providerId: "anthropic", model: "claude-sonnet-4-5", text };
    const variants: [Speed[], () => unknown][] = [
      [samples.raw, rawCount],
      [samples.inline, () => inline.countTokens(request)],
      [samples.pool, () => pooled.countTokens(request)],
      [claudeSamples.raw, rawClaude],
      [claudeSamples.inline, () => inline.countTokens(claudeRequest)],
    ];
    for (let i = 0; i < repetitions; i++) {
      for (let j = 0; j < variants.length; j++) {
        const [speeds, count] = variants[(i + j) % variants.length]!;
        speeds.push(await measureSpeed(bytes, count));
      }
    }

    const small = englishText(2_000);
    const smallCount = () => registry.resolve("openai", "gpt-4o").countText(small);
    const hugeRequest = { providerId: "openai", model: "gpt-4o", text: huge };
    const rounds = opts.quick ? 1 : 3;
    const inlineP99 = await loopDelayP99(() => inline.countTokens(hugeRequest), smallCount, rounds);
    const poolP99 = await loopDelayP99(() => pooled.countTokens(hugeRequest), smallCount, rounds);
    // The same stream with no big count at all: what GC and the machine's load cost by themselves.
    const poolSeconds = bytes / 1e6 / median(samples.pool.map((speed) => speed.wall));
    const hugeSeconds = (poolSeconds * Buffer.byteLength(huge)) / bytes;
    const streamOnlyP99 = await loopDelayP99(() => nextTimer(hugeSeconds * 1000), smallCount, rounds);

    return [
      throughputResult("tokenizers/o200k_base inline vs raw gpt-tokenizer", samples.inline, samples.raw),
      throughputResult("tokenizers/o200k_base pool vs raw gpt-tokenizer", samples.pool, samples.raw),
      throughputResult(
        "tokenizers/claude inline vs reused @anthropic-ai/tokenizer",
        claudeSamples.inline,
        claudeSamples.raw,
      ),
      {
        path: "tokenizers/event-loop delay p99, 2 MiB count in pool (baseline: inline)",
        heidrun: round(poolP99),
        baseline: round(inlineP99),
        ratio: round(poolP99 / inlineP99, 3),
        unit: "ms",
        goal: `< ${P99_GOAL_MS} ms`,
        pass: poolP99 < P99_GOAL_MS,
        streamOnlyP99: round(streamOnlyP99),
        loadAverage1m: round(loadavg()[0] ?? 0),
      },
    ];
  } finally {
    claude.free();
    await Promise.all([inline.close(), pooled.close()]);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await run({ quick: process.argv.includes("--quick") });
  for (const result of results) console.log(JSON.stringify(result));
  if (results.some((result) => !result.pass)) process.exitCode = 1;
}
