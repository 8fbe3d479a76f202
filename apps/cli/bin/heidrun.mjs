#!/usr/bin/env node
// `heidrun …` (and `npx heidrun …` in the checkout): runs the CLI's TypeScript through tsx's loader, the
// same way `npm run heidrun` does. The loader goes on the command line (not registered in this process) so
// that the parts `heidrun start` spawns inherit it through execArgv.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const loader = import.meta.resolve("tsx");
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const child = spawn(process.execPath, ["--import", loader, main, ...process.argv.slice(2)], {
  stdio: "inherit",
});
// Ctrl-C reaches the whole process group; a signal sent to this process alone is passed on.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    if (child.exitCode === null) child.kill(signal);
  });
}
child.on("exit", (code, signal) => {
  process.exitCode = code ?? (signal ? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal] ?? 1) : 1);
});
child.on("error", (error) => {
  process.stderr.write(`heidrun: cannot run node: ${error.message}\n`);
  process.exitCode = 1;
});
