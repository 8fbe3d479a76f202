import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

function heidrun(args: string[]) {
  // npx in the checkout, as the README tells users; --no-install: it must be found here, never downloaded.
  return spawnSync("npx", ["--no-install", "heidrun", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
}

describe("the heidrun command", () => {
  it("runs through npx in the checkout and keeps the CLI's exit codes", () => {
    const help = heidrun(["--help"]);
    expect([help.status, help.stdout.split("\n")[0]]).toEqual([0, "usage: heidrun <command> [options]"]);
    const unknown = heidrun(["frobnicate"]);
    expect([unknown.status, unknown.stderr.split("\n")[0]]).toEqual([
      2,
      "heidrun: unknown command 'frobnicate'",
    ]);
  });
});
