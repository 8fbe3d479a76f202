import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "./load";

const dirs: string[] = [];

/** A settings file in a directory of its own (JSON unless given as text); removeTempFiles deletes it. */
export function tempFile(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "heidrun-config-"));
  dirs.push(dir);
  const file = join(dir, "settings.json");
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

/** For afterEach. */
export function removeTempFiles(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The ConfigError `fn` throws; anything else (or nothing) fails the test. */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}
