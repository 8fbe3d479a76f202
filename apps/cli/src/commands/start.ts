import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runMigrations } from "@heidrun/db";
import type { Command } from "../io";
import { seedPricesOnStart } from "../prices/seed";
import { DEFAULT_BINARY_SEARCH, resolveFleetServices } from "../services/resolve";
import { placeListeners } from "./start-listeners";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** The parts of the fleet `npm start` runs, each as its own child process. */
export const FLEET = ["ingress", "worker", "dashboard"] as const;

function runPart(part: string, env: NodeJS.ProcessEnv): ChildProcess {
  // execArgv carries tsx's loader, so the child runs the same TypeScript sources.
  return spawn(process.execPath, [...process.execArgv, MAIN, part], {
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
}

export const start: Command = async (_argv, io) => {
  const config = io.config.current();
  const listeners = await placeListeners(config);
  for (const line of listeners.moved) io.stderr.write(`heidrun: ${line}\n`);
  let services: Awaited<ReturnType<typeof resolveFleetServices>>;
  try {
    services = await resolveFleetServices(config, { search: DEFAULT_BINARY_SEARCH(process.env.PATH ?? "") });
  } catch (error) {
    io.stderr.write(`heidrun: cannot start services: ${(error as Error).message}\n`);
    return 69; // EX_UNAVAILABLE
  }
  io.stderr.write(`heidrun: services: ${services.reason}\n`);
  const env = {
    ...process.env,
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    HEIDRUN_SERVICES: "external",
    ...listeners.env,
  };
  try {
    const migrated = await runMigrations(services.databaseUrl);
    io.stderr.write(`heidrun: database ready (${migrated.applied} migrations applied)\n`);
    const seeded = await seedPricesOnStart(services.databaseUrl, config.settings.currency);
    if (seeded !== undefined) io.stderr.write(`${seeded}\n`);
  } catch (error) {
    await services.stop();
    throw error;
  }

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  // The first part that ended unasked decides the exit status: the fleet failed even if the rest stop cleanly.
  let failure: number | undefined;
  const exited = new Promise<number>((resolve) => {
    for (const part of FLEET) {
      const child = runPart(part, env);
      children.set(part, child);
      child.on("exit", (code, signal) => {
        children.delete(part);
        if (!stopping) {
          io.stderr.write(`heidrun: ${part} exited (${signal ?? code}); stopping the fleet\n`);
          failure = code !== null && code !== 0 ? code : 1;
          stopAll();
        } else if (code !== 0) failure ??= code ?? 1;
        if (children.size === 0) resolve(failure ?? 0);
      });
    }
  });
  const stopAll = () => {
    stopping = true;
    for (const child of children.values()) child.kill("SIGTERM");
  };
  io.stderr.write(
    `heidrun: fleet starting — gRPC ingress on ${listeners.grpcAddr}, dashboard on http://${listeners.dashboardAddr} ` +
      `(Bull Board at /queues, metrics at /metrics), ingress metrics on port ${listeners.env.HEIDRUN_INGRESS_METRICS_PORT}; ` +
      "Ctrl-C stops everything\n",
  );
  io.stopSignal.then(stopAll);
  const code = await exited;
  await services.stop();
  if (services.mode === "private") io.stderr.write("heidrun: private services stopped\n");
  return code;
};
