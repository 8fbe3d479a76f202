import { status } from "@grpc/grpc-js";
import { Books } from "./books";
import { type CheckSummary, checkBooks } from "./check";
import { HeidrunClient } from "./client";
import { runFlow } from "./execute";
import { type Flow, flowToJson, TARGETS, UNPRICED_TARGET } from "./flows";
import type { SimulateOptions } from "./options";
import { accountId, planFlows } from "./plan";
import { loadPriceBook } from "./prices";
import { SimulationStats } from "./stats";

export interface SimulationIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  /** Resolves when the run should stop starting flows (Ctrl-C); the book check still runs. */
  stopSignal?: Promise<unknown>;
}

export interface SimulationReport {
  differences: string[];
  calls: number;
  check: CheckSummary | undefined;
  stats: SimulationStats;
}

/** The run cannot start (Heidrun unreachable, no prices, ids of this run already used). */
export class SimulationError extends Error {
  override readonly name = "SimulationError";
}

/** Spaces calls evenly at `rate` per second; a late caller goes at once but never earns a burst. */
export function pacer(rate: number): () => Promise<void> {
  let next = performance.now();
  return () => {
    if (rate <= 0) return Promise.resolve();
    const now = performance.now();
    const at = Math.max(next, now);
    next = at + 1000 / rate;
    return at > now ? new Promise((resolve) => setTimeout(resolve, at - now)) : Promise.resolve();
  };
}

/** Runs flows from `flows` with `concurrency` in flight until it ends or `keepGoing` says stop. */
async function runPool(
  flows: Iterator<Flow>,
  concurrency: number,
  keepGoing: () => boolean,
  run: (flow: Flow) => Promise<void>,
): Promise<void> {
  const worker = async () => {
    while (keepGoing()) {
      const next = flows.next();
      if (next.done) return;
      await run(next.value);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function planned(options: SimulateOptions): Generator<Flow> {
  return planFlows({
    seed: options.seed,
    runId: options.runId,
    accounts: options.accounts,
    count:
      options.count ??
      (options.dryRun ? Math.ceil((options.rate || 1000) * (options.durationMs / 1000)) : undefined),
  });
}

async function refuseUsedRun(client: HeidrunClient, options: SimulateOptions): Promise<void> {
  const first = accountId(options.runId, 0);
  const probe = await client.call(
    "account.getBalance",
    client.account.getBalance.bind(client.account),
    { accountId: first },
    false,
  );
  if (probe.ok) {
    throw new SimulationError(
      `account ${first} exists already: run '${options.runId}' was simulated against this database before; ` +
        "pass another --run-id (or --seed) so the books do not mix",
    );
  }
  if (probe.code !== status.NOT_FOUND) {
    throw new SimulationError(
      `cannot use Heidrun at ${options.target}: ${status[probe.code]} ${probe.message}`,
    );
  }
}

/**
 * `heidrun simulate`: funds accounts, drives a seeded mix of Yggdrasil's calls at the given rate, prints a live
 * line and a summary, then waits for the settlements and compares its books with Heidrun's.
 */
export async function runSimulation(options: SimulateOptions, io: SimulationIo): Promise<SimulationReport> {
  const stats = new SimulationStats();
  if (options.dryRun) {
    for (const flow of planned(options)) io.stdout.write(`${flowToJson(flow)}\n`);
    return { differences: [], calls: 0, check: undefined, stats };
  }
  const print = (line: string) => io.stdout.write(`${line}\n`);
  const live = io.stdout.isTTY === true && !options.quiet;
  const redraw = (line: string) => live && io.stdout.write(`\r\x1b[2K${line}`);
  const client = new HeidrunClient({
    target: options.target,
    key: options.key,
    onCall: stats.onCall,
    pace: pacer(options.rate),
  });
  let stopped = false;
  io.stopSignal?.then(() => {
    stopped = true;
  });
  const timer = live ? setInterval(() => redraw(stats.liveLine()), 500) : undefined;
  try {
    await refuseUsedRun(client, options);
    const prices = await loadPriceBook(client, [...TARGETS, UNPRICED_TARGET], options);
    const books = new Books();
    for (const difference of prices.quoteDifferences) books.differ(difference);
    if (!options.quiet) {
      print(
        `simulating against ${options.target}: seed ${options.seed}, run ${options.runId}, ${options.accounts} accounts, ` +
          `${options.count !== undefined ? `${options.count} calls` : `${options.durationMs / 1000} s`} ` +
          `at ${options.rate || "unlimited"} calls/s, concurrency ${options.concurrency}`,
      );
    }
    const ctx = { client, prices, books, outcome: stats.outcome };
    const flows = planned(options);
    // Funding first, so no flow meets an account before its money.
    const setup: Flow[] = [];
    for (let i = 0; i < options.accounts; i++) {
      const next = flows.next();
      if (next.done) break;
      setup.push(next.value);
    }
    await runPool(
      setup.values(),
      options.concurrency,
      () => true,
      (flow) => runFlow(ctx, flow),
    );
    const endAt =
      options.count === undefined ? performance.now() + options.durationMs : Number.POSITIVE_INFINITY;
    await runPool(
      flows,
      options.concurrency,
      () => !stopped && performance.now() < endAt,
      (flow) => runFlow(ctx, flow),
    );
    clearInterval(timer);
    redraw("");
    if (!options.quiet) for (const line of stats.summary()) print(line);
    if (!options.quiet)
      print(`checking the books (waiting up to ${options.settleTimeoutMs / 1000} s for settlements)…`);
    const check = await checkBooks(client, books, prices, {
      timeoutMs: options.settleTimeoutMs,
      onWait: (left) => redraw(`waiting: ${left}`),
    });
    redraw("");
    return { differences: books.differences, calls: stats.calls, check, stats };
  } finally {
    clearInterval(timer);
    client.close();
  }
}

/** The verdict lines: every difference (up to `limit`), or what matched. */
export function verdict(report: SimulationReport, limit = 50): string[] {
  const { differences, check } = report;
  if (differences.length === 0) {
    return [
      `books match: ${check?.accounts ?? 0} accounts, ${check?.expectedSettled ?? 0} settled and ` +
        `${check?.expectedFailed ?? 0} failed settlements as expected; balances, holds and splits agree`,
    ];
  }
  const lines = [
    `${differences.length} difference${differences.length === 1 ? "" : "s"} between the simulator's books and Heidrun's:`,
  ];
  for (const difference of differences.slice(0, limit)) lines.push(`  - ${difference}`);
  if (differences.length > limit) lines.push(`  … and ${differences.length - limit} more`);
  return lines;
}
