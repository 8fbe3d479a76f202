import { seedExampleCatalogIfEmpty } from "@heidrun/db";
import { useTestContext } from "@heidrun/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulateOptions } from "../simulate/options";
import { runSimulation, verdict } from "../simulate/run";
import { ADMIN, type InProcessFleet, startInProcessFleet } from "./fleet";
import { simulateOptions, sink } from "./simulation";

const ctx = useTestContext();
let fleet: InProcessFleet;

beforeAll(async () => {
  await seedExampleCatalogIfEmpty(ctx().db, { actor: "test", currency: "USD" });
  fleet = await startInProcessFleet(ctx());
});
afterAll(async () => {
  await fleet?.stop();
});

function options(overrides: Partial<SimulateOptions>): SimulateOptions {
  return simulateOptions(fleet.address, ADMIN.key, overrides);
}

describe("heidrun simulate against a real ingress and worker", () => {
  it("makes 300 calls of every kind and its books match Heidrun's to the micro", async () => {
    const out = sink();
    const report = await runSimulation(options({}), out);
    expect(verdict(report)).toEqual([
      expect.stringMatching(/^books match: 6 accounts, \d+ settled and \d+ failed/),
    ]);
    expect(report.differences).toEqual([]);
    expect(report.calls).toBe(300);
    expect(report.check?.drained).toBe(true);
    expect(report.check?.expectedFailed).toBeGreaterThan(0);
    const outcomes = Object.fromEntries(report.stats.outcomes);
    for (const name of [
      "authorized",
      "declined",
      "captured",
      "cancelled",
      "left_to_expire",
      "repeat",
      "not_found",
    ]) {
      expect(outcomes[name], name).toBeGreaterThan(0);
    }
    const statuses = Object.fromEntries(report.stats.byStatus);
    expect(Object.keys(statuses).sort()).toEqual([
      "ALREADY_EXISTS",
      "FAILED_PRECONDITION",
      "NOT_FOUND",
      "OK",
    ]);
  });

  it("refuses to mix its books with an earlier run's", async () => {
    await expect(runSimulation(options({ count: 10 }), sink())).rejects.toThrow(
      /account sim-e2e-a0 exists already: run 'e2e' was simulated against this database before/,
    );
  });

  it("reports differences when its idea of Heidrun's pricing is wrong", async () => {
    const report = await runSimulation(
      options({ runId: "e2e-wrong", count: 40, roundingIncrementMicros: 1000n, settleTimeoutMs: 15_000 }),
      sink(),
    );
    expect(report.differences.length).toBeGreaterThan(0);
    expect(
      report.differences.some((d) => /^quote openai\/gpt-4o-mini .*is the rounding increment 1000\?/.test(d)),
    ).toBe(true);
    expect(report.differences.some((d) => /balance -?\d+, expected -?\d+ micros/.test(d))).toBe(true);
  });
});
