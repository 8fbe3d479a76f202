// Prints the closing line CI reads ("N passed, N failed") from vitest's JSON report. A run that failed
// before vitest wrote its report (lint, typecheck) counts as one failure so it can never read as green.
import { existsSync, readFileSync } from "node:fs";

const [file = "test-results/vitest.json", status = "0"] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(file)) {
  const report = JSON.parse(readFileSync(file, "utf8"));
  passed = report.numPassedTests ?? 0;
  failed =
    (report.numFailedTests ?? 0) +
    (report.testResults ?? []).filter((r) => r.status === "failed" && (r.assertionResults ?? []).length === 0)
      .length;
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
if (status !== "0" && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
