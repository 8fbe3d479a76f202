import { describe, expect, it } from "vitest";
import { callsOf, type Flow, flowToJson } from "./flows";
import { planFlows } from "./plan";
import { Prng } from "./prng";

const plan = (seed: number, count = 300, runId = "r1") =>
  [...planFlows({ seed, runId, accounts: 5, count })].map(flowToJson);

function kinds(flows: Flow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const flow of flows) {
    const key = flow.kind === "preauth" ? `preauth:${flow.intent}:${flow.ending.type}` : flow.kind;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe("the simulator's plan", () => {
  it("is the same operation sequence for the same seed, and another for another seed", () => {
    const first = plan(42);
    expect(plan(42)).toEqual(first);
    expect(plan(43)).not.toEqual(first);
    // The run id only renames; the choices stay.
    expect(plan(42, 300, "r2").map((line) => line.replaceAll("sim-r2-", "sim-r1-"))).toEqual(first);
  });

  it("plans exactly --count calls, funding every account first", () => {
    const flows = [...planFlows({ seed: 7, runId: "x", accounts: 5, count: 300 })];
    expect(flows.reduce((sum, flow) => sum + callsOf(flow), 0)).toBe(300);
    expect(flows.slice(0, 5).map((f) => f.kind === "credit" && f.setup && f.accountId)).toEqual([
      "sim-x-a0",
      "sim-x-a1",
      "sim-x-a2",
      "sim-x-a3",
      "sim-x-a4",
    ]);
    const ids = flows.flatMap((f) =>
      f.kind === "batch" ? f.items.map((i) => i.requestId) : f.kind === "track" ? [f.item.requestId] : [],
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("mixes every kind of flow Yggdrasil sends", () => {
    const flows = [...planFlows({ seed: 1, runId: "x", accounts: 10, count: 3000 })];
    const seen = Object.keys(kinds(flows)).sort();
    expect(seen).toEqual([
      "batch",
      "credit",
      "preauth:hold:cancel",
      "preauth:hold:capture",
      "preauth:hold:expire",
      "preauth:overdraw:none",
      "preauth:unknown-account:none",
      "preauth:unpriced:none",
      "track",
    ]);
    const asks = new Set(flows.flatMap((f) => (f.kind === "preauth" ? Object.keys(f.authorize.ask) : [])));
    expect([...asks].sort()).toEqual(["estimatedInputTokens", "messages", "promptText"]);
    const tracks = flows.filter((f) => f.kind === "track");
    expect(tracks.some((f) => f.repeat)).toBe(true);
    expect(tracks.some((f) => f.conflict)).toBe(true);
    expect(tracks.some((f) => f.item.target.model === "gpt-sim-unpriced")).toBe(true);
    const captures = flows.flatMap((f) =>
      f.kind === "preauth" && f.ending.type === "capture" && "estimatedInputTokens" in f.authorize.ask
        ? [{ usage: f.ending.usage, max: f.authorize.maxOutputTokens }]
        : [],
    );
    expect(captures.some((c) => c.usage.outputTokens > c.max)).toBe(true);
    expect(captures.some((c) => c.usage.outputTokens < c.max)).toBe(true);
  });

  it("draws from mulberry32", () => {
    const prng = new Prng(1);
    expect([prng.next(), prng.next(), prng.next()]).toEqual([
      0.6270739405881613, 0.002735721180215478, 0.5274470399599522,
    ]);
  });
});
