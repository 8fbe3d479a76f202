/**
 * CalculatePricing through the whole ingress, in server CPU per call at a fixed 1,000 calls/s, beside a bare
 * grpc-js server of the same service definition that answers a fixed quote (bench/lib/grpc-server.ts).
 * Server, echo server and load generator are separate processes: each server reports its own
 * `process.cpuUsage()` over IPC before and after the measured window, and the load generator reports its
 * latencies and its own CPU (the machine has 2 cores; the load's share says how much the figure could be
 * disturbed). Goal: Heidrun ≤ 1.3× the echo's CPU per call, p99 < 5 ms, and keeping up with the rate.
 *
 *   npx tsx bench/grpc-pricing.bench.ts [--quick]
 *
 * Needs PostgreSQL and Redis (as the tests do): the ingress loads its price cache from a database of its own
 * that is dropped afterwards.
 */
import { pathToFileURL } from "node:url";
import { setPrice } from "@heidrun/db";
import { createTestContext, type TestContext } from "@heidrun/testing";
import { GRPC_LOAD, type LoadRunResult } from "./lib/grpc-load";
import { BENCH_PRICE, GRPC_SERVER, type GrpcServerOptions } from "./lib/grpc-server";
import { type Message, TsChild } from "./lib/ipc";
import type { BenchLine } from "./lib/result";
import { median, round } from "./lib/stats";

const RATE = 1000;
const CPU_RATIO_GOAL = 1.3;
const P99_GOAL_MS = 5;
const API_KEY = "bench-yggdrasil-key-0001";

interface ServerRun {
  cpuMicrosPerCall: number;
  load: LoadRunResult;
}

type CpuMessage = Message & { user: number; system: number };

async function measureServer(
  options: GrpcServerOptions,
  timing: { warmUpSeconds: number; seconds: number },
): Promise<ServerRun> {
  const server = new TsChild(GRPC_SERVER, options);
  let load: TsChild | undefined;
  try {
    const { port } = await server.next<Message & { port: number }>("listening");
    load = new TsChild(GRPC_LOAD, { port, apiKey: options.apiKey });
    await load.next("ready");
    const run = (seconds: number) =>
      load!.ask<LoadRunResult & Message>({ type: "run", rate: RATE, seconds }, "done", (seconds + 30) * 1000);
    await run(timing.warmUpSeconds);
    const before = await server.ask<CpuMessage>({ type: "cpu" }, "cpu");
    const measured = await run(timing.seconds);
    const after = await server.ask<CpuMessage>({ type: "cpu" }, "cpu");
    if (measured.errors > 0) {
      throw new Error(
        `${options.mode}: ${measured.errors} of ${measured.calls} calls failed: ${measured.firstError}`,
      );
    }
    const cpuMicros = after.user + after.system - (before.user + before.system);
    return { cpuMicrosPerCall: cpuMicros / measured.calls, load: measured };
  } finally {
    await load?.stop();
    await server.stop();
  }
}

function summary(runs: ServerRun[]) {
  const loadCpu = runs.map((r) => r.load.cpuMicros / 1e6 / r.load.seconds);
  const served = runs.map((r) => r.load.calls / r.load.seconds);
  return {
    servedPerSecond: Math.round(Math.min(...served)),
    shed: runs.reduce((sum, r) => sum + r.load.shed, 0),
    cpuMicrosPerCall: round(median(runs.map((r) => r.cpuMicrosPerCall)), 1),
    p50Ms: round(median(runs.map((r) => r.load.p50Ms))),
    p99Ms: round(median(runs.map((r) => r.load.p99Ms))),
    loadCorePercent: Math.round(median(loadCpu) * 100),
  };
}

export async function run(opts: { quick: boolean }): Promise<BenchLine> {
  const timing = opts.quick ? { warmUpSeconds: 1, seconds: 2 } : { warmUpSeconds: 3, seconds: 8 };
  const rounds = opts.quick ? 1 : 5;
  const context: TestContext = await createTestContext();
  try {
    await setPrice(context.db, BENCH_PRICE, { requestId: "bench-price", actor: "bench" });
    const heidrunOptions: GrpcServerOptions = {
      mode: "heidrun",
      databaseUrl: context.databaseUrl,
      redisUrl: context.redisUrl,
      prefix: context.redisPrefix,
      apiKey: API_KEY,
      logLevel: "info",
    };
    const echoRuns: ServerRun[] = [];
    const heidrunRuns: ServerRun[] = [];
    // Alternated, so drift on a shared machine touches both alike.
    for (let i = 0; i < rounds; i++) {
      echoRuns.push(await measureServer({ mode: "echo" }, timing));
      heidrunRuns.push(await measureServer(heidrunOptions, timing));
    }
    const heidrun = summary(heidrunRuns);
    const echo = summary(echoRuns);
    const ratio = round(heidrun.cpuMicrosPerCall / echo.cpuMicrosPerCall);
    return {
      path: "CalculatePricing: ingress process vs bare grpc-js echo process",
      heidrun: heidrun.cpuMicrosPerCall,
      baseline: echo.cpuMicrosPerCall,
      ratio,
      unit: `server CPU µs/call at ${RATE} calls/s`,
      goal: `<= ${CPU_RATIO_GOAL}x CPU; p99 < ${P99_GOAL_MS} ms at ${RATE}/s`,
      pass: ratio <= CPU_RATIO_GOAL && heidrun.p99Ms < P99_GOAL_MS && heidrun.shed === 0,
      detail:
        `p50/p99 ${heidrun.p50Ms}/${heidrun.p99Ms} ms (echo ${echo.p50Ms}/${echo.p99Ms} ms); ` +
        (heidrun.shed + echo.shed > 0
          ? `kept up with ${heidrun.servedPerSecond}/s (echo ${echo.servedPerSecond}/s) of ${RATE}/s offered, ` +
            `the rest shed while ${RATE} calls waited; `
          : "") +
        `load generator ${heidrun.loadCorePercent} % of a core (echo run ${echo.loadCorePercent} %); ` +
        `auth on, log level info`,
      heidrunP50Ms: heidrun.p50Ms,
      heidrunP99Ms: heidrun.p99Ms,
      baselineP50Ms: echo.p50Ms,
      baselineP99Ms: echo.p99Ms,
      loadGeneratorCorePercent: heidrun.loadCorePercent,
      servedPerSecond: heidrun.servedPerSecond,
      baselineServedPerSecond: echo.servedPerSecond,
      shed: heidrun.shed,
      rate: RATE,
      seconds: timing.seconds * rounds,
    };
  } finally {
    await context.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const line = await run({ quick: process.argv.includes("--quick") });
  console.log(JSON.stringify(line));
  console.log(
    `${line.path}: ${line.heidrun} vs ${line.baseline} ${line.unit} = ${line.ratio}x; ${line.detail}`,
  );
  if (!line.pass) process.exitCode = 1;
}
