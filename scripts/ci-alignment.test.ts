import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = new URL("../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), "utf8");

/** The README's test command: the line of its two-commands block that runs the tests. */
function readmeTestCommand(): string {
  const match = read("README.md").match(/^(npm test)\b.*$/m);
  if (!match?.[1]) throw new Error("README names no test command");
  return match[1];
}

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  jobs: Record<string, { "runs-on": string; steps: Step[]; services?: Record<string, { image: string }> }>;
}

describe("CI definitions", () => {
  const workflow = parse(read(".github/workflows/ci.yml")) as Workflow;

  it("the workflow has the shape GitHub Actions requires", () => {
    expect(typeof workflow.name).toBe("string");
    expect(Object.keys(workflow.on).sort()).toEqual(["pull_request", "push"]);
    for (const [id, job] of Object.entries(workflow.jobs)) {
      expect(id).toMatch(/^[A-Za-z_][A-Za-z0-9_-]*$/);
      expect(job["runs-on"]).toBe("ubuntu-latest");
      expect(job.steps.length).toBeGreaterThan(0);
      for (const step of job.steps) {
        // Every step does exactly one thing: runs a command or uses an action at a pinned major version.
        expect(Boolean(step.uses) !== Boolean(step.run)).toBe(true);
        if (step.uses) expect(step.uses).toMatch(/^[\w.-]+\/[\w.-]+@v\d+$/);
      }
    }
    expect(Object.values(workflow.jobs.test?.services ?? {}).map((s) => s.image)).toEqual([
      "postgres:16",
      "redis:7",
    ]);
  });

  it(".ci/run and the workflow run the README's test command, so they cannot drift", () => {
    const command = readmeTestCommand();
    const ciLines = read(".ci/run")
      .split("\n")
      .map((line) => line.trim());
    expect(ciLines).toContain(command);
    const runs = (workflow.jobs.test?.steps ?? []).map((step) => step.run?.trim());
    expect(runs).toContain(command);
    expect(runs).toContain("npm ci");
    expect(ciLines.some((line) => line.startsWith("npm ci"))).toBe(true);
  });
});
