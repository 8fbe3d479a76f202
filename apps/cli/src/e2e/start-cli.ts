import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

export interface StartedCli {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  /** Resolves when stderr has shown `pattern` (rejects when the process exits first). */
  said(pattern: RegExp): Promise<void>;
}

/** `heidrun start` as `npm start` runs it, with this environment over ours (minus the service URLs). */
export function startCli(env: Record<string, string>): StartedCli {
  const { DATABASE_URL: _db, REDIS_URL: _redis, HEIDRUN_API_KEYS: _keys, ...inherited } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "start"], {
    env: { ...inherited, HEIDRUN_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const waiting = new Set<() => void>();
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const check of waiting) check();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const said = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(stderr)) return;
        waiting.delete(check);
        resolve();
      };
      waiting.add(check);
      check();
      exited.then(() => {
        if (waiting.delete(check)) reject(new Error(`exited before saying ${pattern}:\n${stderr}`));
      });
    });
  return { child, exited, stderr: () => stderr, said };
}
