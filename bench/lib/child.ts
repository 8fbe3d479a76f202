/**
 * Runs one bench in a process of its own for bench/run.ts. Options (argv JSON): {file, quick}. Sends
 * `{type: "database", name}` for every database a pg client of this process connects to (so the runner can
 * drop what a crashed or killed bench leaves behind), then `{type: "result", lines}` or `{type: "error",
 * message}`, and exits.
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { childOptions, sendToParent } from "./ipc";
import { toLines } from "./result";

export const BENCH_CHILD = fileURLToPath(import.meta.url);

function reportDatabases(): void {
  const seen = new Set<string>();
  const prototype = pg.Client.prototype as unknown as { connect: (...args: unknown[]) => unknown };
  const connect = prototype.connect;
  prototype.connect = function (this: { database?: string }, ...args: unknown[]) {
    const name = this.database;
    if (name && !seen.has(name)) {
      seen.add(name);
      void sendToParent({ type: "database", name });
    }
    return connect.apply(this, args);
  };
}

async function main(): Promise<void> {
  const { file, quick } = childOptions<{ file: string; quick: boolean }>();
  reportDatabases();
  const module = (await import(pathToFileURL(file).href)) as { run?: (opts: { quick: boolean }) => unknown };
  if (typeof module.run !== "function") throw new Error(`${file} exports no run({quick})`);
  const lines = toLines(await module.run({ quick }));
  await sendToParent({ type: "result", lines });
}

if (process.argv[1] === BENCH_CHILD) {
  main()
    .then(() => process.exit(0))
    .catch(async (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      await sendToParent({ type: "error", message: error instanceof Error ? error.message : String(error) });
      process.exit(1);
    });
}
