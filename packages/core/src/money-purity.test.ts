import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Floating point on a money path loses micros silently; these are the ways it usually sneaks in.
// Commission rates are plain integers and go through BigInt(bps), which is not listed.
const FORBIDDEN = ["parseFloat", "parseInt", "Number(", "Math.", "toFixed"] as const;

const sourceDir = fileURLToPath(new URL(".", import.meta.url));

function violations(fileName: string, text: string): string[] {
  return text
    .split("\n")
    .flatMap((line, index) =>
      FORBIDDEN.filter((pattern) => line.includes(pattern)).map(
        (pattern) => `${fileName}:${index + 1}: ${pattern} in "${line.trim()}"`,
      ),
    );
}

function coreSourceFiles(): string[] {
  return readdirSync(sourceDir, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))
    .sort();
}

describe("money code stays integer-only", () => {
  it("scans the money sources", () => {
    expect(coreSourceFiles()).toEqual(
      expect.arrayContaining(["commission.ts", "money.ts", "price.ts", "pricing.ts"]),
    );
  });

  it("finds each forbidden construct when present", () => {
    const sample = "const a = parseFloat(x);\nconst b = Math.floor(y);\nz.toFixed(2); Number(w); parseInt(v)";
    expect(violations("sample.ts", sample)).toHaveLength(FORBIDDEN.length);
  });

  it("has no parseFloat, parseInt, Number(, Math. or toFixed outside tests", () => {
    const found = coreSourceFiles().flatMap((name) =>
      violations(name, readFileSync(join(sourceDir, name), "utf8")),
    );
    expect(found).toEqual([]);
  });
});
