/**
 * `npm run bench [-- --quick] [--only name,...] [--out FILE] [--verbose]`
 *
 * Runs every bench (bench/*.bench.ts), each in a child process of its own with a time budget, one after
 * another against the same services (DATABASE_URL/REDIS_URL, else the local defaults, else a private
 * PostgreSQL and Redis it starts and stops), prints one table and writes it to BENCHMARKS.md with the
 * machine's facts. A bench that crashes or overruns is a row that says so; goals missed are rows marked
 * FAIL. The run is bounded (RUN_BUDGET_SECONDS); benches left when it is spent are rows marked SKIPPED. The
 * exit code is non-zero only when the runner itself breaks.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadAverage, machineFacts } from "./lib/machine";
import { renderReport, resultSummary } from "./lib/report";
import { type BenchSpec, endCurrentBench, runBench } from "./lib/runner";
import { type BenchServices, dropLeftovers, preflight, resolveBenchServices } from "./lib/services";
import { type BenchOutcome, renderText, tableRows } from "./lib/table";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const DEFAULT_OUT = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

/** The table's rows, in order. Budgets are ceilings for a busy 2-core machine, not expected durations. */
/** The whole run's bound: a bench gets what is left of it when its own budget is larger. */
const RUN_BUDGET_SECONDS = { quick: 300, full: 600 };

const SPECS: BenchSpec[] = [
  { file: "grpc-pricing.bench.ts", title: "CalculatePricing", budgetSeconds: { quick: 90, full: 180 } },
  { file: "core-pricing.bench.ts", title: "core price calculation", budgetSeconds: { quick: 30, full: 60 } },
  { file: "preauth.bench.ts", title: "PreAuthorize", budgetSeconds: { quick: 60, full: 120 } },
  { file: "track.bench.ts", title: "TrackTokensBatch", budgetSeconds: { quick: 60, full: 180 } },
  { file: "settle.bench.ts", title: "settle (1 and 2 workers)", budgetSeconds: { quick: 120, full: 300 } },
  { file: "tokenizers.bench.ts", title: "CountTokens", budgetSeconds: { quick: 60, full: 150 } },
  { file: "audit.bench.ts", title: "audit append", budgetSeconds: { quick: 60, full: 120 } },
];

interface Args {
  quick: boolean;
  verbose: boolean;
  only: string[];
  out: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const value = (name: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  return {
    quick: argv.includes("--quick"),
    verbose: argv.includes("--verbose"),
    only: (value("--only") ?? "").split(",").filter(Boolean),
    out: value("--out"),
  };
}

/** The listed benches, then any other bench/*.bench.ts, so a new bench is never left out of the table. */
function specs(only: string[]): BenchSpec[] {
  const listed = new Set(SPECS.map((spec) => spec.file));
  const others = readdirSync(BENCH_DIR)
    .filter((file) => file.endsWith(".bench.ts") && !listed.has(file))
    .sort()
    .map((file) => ({
      file,
      title: file.replace(/\.bench\.ts$/, ""),
      budgetSeconds: { quick: 60, full: 150 },
    }));
  const all = [...SPECS, ...others];
  return only.length ? all.filter((spec) => only.some((name) => spec.file.includes(name))) : all;
}

const say = (text: string) => process.stderr.write(`bench: ${text}\n`);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const began = performance.now();
  const loadAtStart = loadAverage();
  const machine = machineFacts();
  say(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${loadAtStart}`);
  let services: BenchServices | undefined;
  process.once("SIGINT", () => {
    endCurrentBench();
    void services?.stop().finally(() => process.exit(130));
    if (!services) process.exit(130);
  });
  services = await resolveBenchServices();
  try {
    say(services.reason);
    const facts = await preflight();
    say(`PostgreSQL ${facts.postgres}; Redis ${facts.redis}`);
    const outcomes: BenchOutcome[] = [];
    const chosen = specs(args.only);
    const deadline = began + (args.quick ? RUN_BUDGET_SECONDS.quick : RUN_BUDGET_SECONDS.full) * 1000;
    for (const [i, spec] of chosen.entries()) {
      const maxSeconds = (deadline - performance.now()) / 1000;
      if (maxSeconds < 15) {
        const message = "not run: the run's overall time budget was spent";
        outcomes.push({ file: spec.file, title: spec.title, seconds: 0, status: "skipped", message });
        say(`[${i + 1}/${chosen.length}] ${spec.file} skipped: ${message}`);
        continue;
      }
      say(`[${i + 1}/${chosen.length}] ${spec.file} ...`);
      const { outcome, databases } = await runBench(BENCH_DIR, spec, { ...args, maxSeconds });
      const left = await dropLeftovers(services, databases);
      if (left.length) say(`  dropped what it left: ${left.join(", ")}`);
      say(
        `  ${outcome.status} in ${outcome.seconds} s${outcome.status === "ok" ? "" : `: ${outcome.message}`}`,
      );
      outcomes.push(outcome);
    }
    const loadAtEnd = loadAverage();
    const seconds = Math.round((performance.now() - began) / 1000);
    const rows = tableRows(outcomes);
    console.log(`\nHeidrun benchmarks${args.quick ? " (quick)" : ""}, ${startedAt.toISOString()}`);
    console.log(`${machine.cpu}, ${machine.cores} cores; Node ${machine.node}`);
    console.log(`PostgreSQL ${facts.postgres}\nRedis ${facts.redis}`);
    console.log(`Load average ${loadAtStart} at start, ${loadAtEnd} at end; ${seconds} s in all\n`);
    console.log(renderText(rows));
    console.log(`\n${resultSummary(outcomes)}`);
    // A partial run (--only) does not replace the full table unless told where to write.
    const out = args.out ?? (args.only.length ? undefined : DEFAULT_OUT);
    if (out) {
      const report = renderReport(
        {
          machine,
          services: { ...facts, reason: services.reason },
          loadAtStart,
          loadAtEnd,
          startedAt,
          seconds,
          quick: args.quick,
        },
        rows,
        outcomes,
      );
      writeFileSync(out, report);
      say(`wrote ${out}`);
    }
  } finally {
    await services.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench runner failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(2);
  },
);
