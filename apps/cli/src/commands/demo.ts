import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { ApiKey, Config } from "@heidrun/config";
import type { Command } from "../io";
import { PRIVATE_SERVICES_DIR } from "../services/resolve";
import { waitForServing } from "../simulate/health";
import { dialAddress, parseSimulateArgs, SIMULATE_USAGE, UsageError } from "../simulate/options";
import { PriceBookError } from "../simulate/prices";
import { runSimulation, SimulationError, verdict } from "../simulate/run";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
/** Git ignores `.heidrun/`; the fleet's log goes there so the demo's own output stays readable. */
const DEMO_DIR = dirname(PRIVATE_SERVICES_DIR);
const SERVING_TIMEOUT_MS = 180_000;

const DEMO_USAGE = `usage: npm run demo [-- --exit] [simulate options]

Starts the fleet (like npm start), waits until it is SERVING, runs the simulator against it for about a
minute, prints where to look, and keeps the fleet running until Ctrl-C (--exit: stop after the simulation).

${SIMULATE_USAGE}`;

/** The admin key the demo uses: a configured one, else one generated for this run and given to the fleet. */
export function demoKeys(keys: readonly ApiKey[]): { adminKey: string; generated: boolean; env: string } {
  const configured = keys.find((k) => k.scope === "admin");
  const adminKey = configured?.key ?? `demo-admin-${randomBytes(16).toString("hex")}`;
  const all = configured ? keys : [...keys, { key: adminKey, scope: "admin" as const }];
  return { adminKey, generated: !configured, env: all.map((k) => `${k.key}=${k.scope}`).join(",") };
}

function lastLines(file: string, n: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-n).join("\n");
  } catch {
    return "(no log)";
  }
}

function whereToLook(config: Config, adminKey: string, runId: string): string[] {
  const grpc = dialAddress(config.grpcAddr);
  const quote = JSON.stringify({
    request_id: "quote-1",
    provider_id: "openai",
    model: "gpt-4o-mini",
    usage: { input_tokens: "1200", output_tokens: "300" },
  });
  return [
    "",
    "where to look:",
    `  dashboard   http://${dialAddress(config.dashboardAddr)}/  (any user name; password: the admin key)`,
    `              Bull Board at /queues, Prometheus metrics at /metrics`,
    `  admin key   ${adminKey}`,
    "  a quote     grpcurl -plaintext \\",
    `                -H 'authorization: Bearer ${adminKey}' \\`,
    `                -d '${quote}' \\`,
    `                ${grpc} heidrun.v1.PricingService/CalculatePricing`,
    `  a balance   grpcurl -plaintext -H 'authorization: Bearer ${adminKey}' \\`,
    `                -d '{"account_id":"sim-${runId}-a0"}' ${grpc} heidrun.v1.AccountService/GetBalance`,
  ];
}

/** The fleet, stopped with ONE SIGTERM: `heidrun start` takes a second signal as "exit now, skip the cleanup". */
class Fleet {
  readonly exited: Promise<number>;
  #signalled = false;

  constructor(readonly child: ChildProcess) {
    this.exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
  }

  signal(): void {
    if (this.#signalled || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.#signalled = true;
    this.child.kill("SIGTERM");
  }

  stop(): Promise<number> {
    this.signal();
    return this.exited;
  }
}

/** `npm run demo`: the first ten minutes in one command. */
export const demo: Command = async (argv, io) => {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(DEMO_USAGE);
    return 0;
  }
  const config = io.config.current();
  const keys = demoKeys(config.apiKeys);
  const exitAfter = argv.includes("--exit");
  let options: ReturnType<typeof parseSimulateArgs>;
  try {
    options = parseSimulateArgs(["--key", keys.adminKey, ...argv.filter((a) => a !== "--exit")], config);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`heidrun demo: ${error.message}\n\n${DEMO_USAGE}`);
    return 2;
  }
  const print = (line: string) => io.stdout.write(`${line}\n`);
  mkdirSync(DEMO_DIR, { recursive: true });
  const logFile = join(DEMO_DIR, "demo-fleet.log");
  const log = openSync(logFile, "w");
  // Its own process group: Ctrl-C reaches the demo alone, which then stops the fleet with one SIGTERM.
  const child = spawn(process.execPath, [...process.execArgv, MAIN, "start"], {
    env: { ...process.env, HEIDRUN_API_KEYS: keys.env },
    stdio: ["ignore", log, log],
    detached: true,
  });
  closeSync(log);
  const fleet = new Fleet(child);
  // Should the demo be made to exit at once (a second Ctrl-C), the fleet still stops, in the background.
  const stopOnExit = () => fleet.signal();
  process.once("exit", stopOnExit);
  const shownLog = relative(process.cwd(), logFile) || logFile;
  print(`starting the fleet (npm start: services, migrations, example prices, ingress, worker, dashboard)`);
  print(`  fleet logs: ${shownLog}`);
  if (keys.generated)
    print(`  no admin key configured: generated one for this demo (HEIDRUN_API_KEYS of the fleet)`);
  try {
    const serving = await waitForServing(options.target, {
      timeoutMs: SERVING_TIMEOUT_MS,
      abort: Promise.race([fleet.exited, io.stopSignal]),
    });
    if (serving !== "SERVING") {
      io.stderr.write(
        `heidrun demo: the fleet did not report SERVING at ${options.target} (${serving}); the end of its log:\n` +
          `${lastLines(logFile, 30)}\n`,
      );
      await fleet.stop();
      return 1;
    }
    print(`fleet SERVING at ${options.target}`);
    let code = 0;
    try {
      const report = await runSimulation(options, { stdout: io.stdout, stopSignal: io.stopSignal });
      for (const line of verdict(report)) print(line);
      code = report.differences.length === 0 ? 0 : 1;
    } catch (error) {
      if (!(error instanceof SimulationError || error instanceof PriceBookError)) throw error;
      io.stderr.write(`heidrun demo: ${error.message}\n`);
      code = 1;
    }
    for (const line of whereToLook(config, keys.adminKey, options.runId)) print(line);
    if (!exitAfter) {
      print("\nthe fleet keeps running; Ctrl-C stops it (and its private services, if it started any)");
      await Promise.race([io.stopSignal, fleet.exited]);
    }
    print("stopping the fleet…");
    const fleetCode = await fleet.stop();
    return code !== 0 ? code : fleetCode;
  } finally {
    await fleet.stop();
    process.off("exit", stopOnExit);
  }
};
