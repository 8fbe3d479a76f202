import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const buf = join(root, "node_modules/.bin/buf");
const out = mkdtempSync(join(tmpdir(), "heidrun-gen-"));

function filesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(dir, path), readFileSync(path, "utf8"));
    }
  };
  walk(dir);
  return files;
}

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("committed generated code matches proto/", () => {
  it("passes buf lint", () => {
    expect(() => execFileSync(buf, ["lint"], { cwd: root, stdio: "pipe" })).not.toThrow();
  });

  it("regenerates the same TypeScript (run `npm run gen -w @heidrun/proto` when this fails)", () => {
    execFileSync(buf, ["generate", "-o", out], { cwd: root, stdio: "pipe" });
    const fresh = filesUnder(join(out, "packages/proto/src/gen"));
    const committed = filesUnder(join(root, "packages/proto/src/gen"));
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [path, text] of fresh) expect(committed.get(path), path).toBe(text);
  });

  it("rebuilds the same descriptor set", () => {
    const path = join(out, "descriptor.binpb");
    execFileSync(buf, ["build", "-o", path], { cwd: root, stdio: "pipe" });
    expect(readFileSync(join(root, "packages/proto/descriptor.binpb")).equals(readFileSync(path))).toBe(true);
  });
});
