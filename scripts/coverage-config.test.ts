import { describe, expect, it } from "vitest";
import config, { COVERAGE_THRESHOLDS } from "../vitest.config";

describe("coverage thresholds", () => {
  it("hold packages/core to at least 95 % of lines and of branches, and the repository to a floor", () => {
    const core = COVERAGE_THRESHOLDS["packages/core/src/**"];
    expect(core.lines).toBeGreaterThanOrEqual(95);
    expect(core.branches).toBeGreaterThanOrEqual(95);
    expect(COVERAGE_THRESHOLDS.lines).toBeGreaterThan(0);
    expect(COVERAGE_THRESHOLDS.branches).toBeGreaterThan(0);
  });

  it("are the ones vitest enforces, with the v8 provider", () => {
    const coverage = config.test?.coverage as { provider: string; thresholds: unknown };
    expect(coverage.provider).toBe("v8");
    expect(coverage.thresholds).toBe(COVERAGE_THRESHOLDS);
  });

  it("are enforced by the test command, which runs with coverage", async () => {
    const { readFile } = await import("node:fs/promises");
    const scripts = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")).scripts;
    expect(scripts["test:unit"]).toMatch(/vitest run .*--coverage/);
  });
});

describe("coverage enforcement", () => {
  it("fails a run whose core coverage is under the threshold", async () => {
    const { spawnSync } = await import("node:child_process");
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const reports = mkdtempSync(join(tmpdir(), "heidrun-coverage-"));
    try {
      // One small test file leaves most of core unexercised, so the core threshold must fail the run.
      const run = spawnSync(
        process.execPath,
        [
          "node_modules/vitest/vitest.mjs",
          "run",
          "packages/core/src/identifiers.test.ts",
          "--coverage",
          `--coverage.reportsDirectory=${reports}`,
          "--coverage.reporter=text-summary",
          "--reporter=dot",
        ],
        { cwd: new URL("..", import.meta.url), encoding: "utf8", timeout: 120_000 },
      );
      expect(run.status).not.toBe(0);
      expect(`${run.stdout}${run.stderr}`).toMatch(
        /Coverage for (lines|branches) \([\d.]+%\) does not meet "packages\/core\/src\/\*\*" threshold \(95%\)/,
      );
    } finally {
      rmSync(reports, { recursive: true, force: true });
    }
  });
});
