import { defineConfig } from "vitest/config";

/**
 * The fault-injection suite (`npm run test:faults`): scenarios kill, pause and restart PostgreSQL, Redis and
 * Heidrun's own processes, so files run one after another, each with servers of its own.
 */
export default defineConfig({
  test: {
    root: new URL("..", import.meta.url).pathname,
    include: ["faults/**/*.fault.test.ts"],
    globalSetup: ["faults/global-setup.ts"],
    fileParallelism: false,
    pool: "forks",
    testTimeout: 240_000,
    hookTimeout: 240_000,
    reporters: ["default", ["json", { outputFile: "test-results/faults/vitest.json" }]],
  },
});
