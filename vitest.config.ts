import { defineConfig } from "vitest/config";

/** Coverage floors: `npm test` fails below them. Core is the money: it stays near complete. */
export const COVERAGE_THRESHOLDS = {
  lines: 70,
  branches: 60,
  "packages/core/src/**": { lines: 95, branches: 95 },
};

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**", "faults/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }]],
    pool: "forks",
    coverage: {
      provider: "v8",
      include: ["packages/*/src/**/*.ts", "apps/*/src/**/*.ts"],
      exclude: ["**/*.test.ts", "**/*.fixture.ts", "**/gen/**", "**/*.d.ts", "packages/testing/**"],
      reporter: ["text-summary", "json-summary"],
      reportsDirectory: "coverage",
      thresholds: COVERAGE_THRESHOLDS,
    },
  },
});
