import { loadConfig } from "@heidrun/config";
import { describe, expect, it } from "vitest";
import { dialAddress, parseSimulateArgs } from "./options";

const config = loadConfig({ HEIDRUN_GRPC_ADDR: "0.0.0.0:50051" }).current();

describe("heidrun simulate options", () => {
  it("defaults to a minute at 50 calls/s against the local ingress, ids from the seed", () => {
    const options = parseSimulateArgs(["--seed", "35"], config);
    expect(options).toMatchObject({
      target: "127.0.0.1:50051",
      key: undefined,
      rate: 50,
      durationMs: 60_000,
      count: undefined,
      concurrency: 8,
      seed: 35,
      runId: "sz",
      accounts: 10,
      settleTimeoutMs: 60_000,
      roundingIncrementMicros: 1n,
    });
  });

  it("reads every option", () => {
    const options = parseSimulateArgs(
      "--rate 0 --duration 2m --count 300 --concurrency 4 --seed 1 --run-id ci.1 --accounts 3 --target h:1 --key k --settle-timeout 1500ms --rounding-increment 1000 --quiet --dry-run".split(
        " ",
      ),
      config,
    );
    expect(options).toEqual({
      target: "h:1",
      key: "k",
      rate: 0,
      durationMs: 120_000,
      count: 300,
      concurrency: 4,
      seed: 1,
      runId: "ci.1",
      accounts: 3,
      quiet: true,
      dryRun: true,
      settleTimeoutMs: 1500,
      roundingIncrementMicros: 1000n,
    });
  });

  it("names what is wrong", () => {
    expect(() => parseSimulateArgs(["--count", "0"], config)).toThrow(
      "--count must be a whole number ≥ 1, got '0'",
    );
    expect(() => parseSimulateArgs(["--duration", "soon"], config)).toThrow(/--duration must be a duration/);
    expect(() => parseSimulateArgs(["--run-id", "a b"], config)).toThrow(/--run-id must be/);
    expect(() => parseSimulateArgs(["--seed", "4294967296"], config)).toThrow("--seed must be below 2^32");
    expect(() => parseSimulateArgs(["--frobnicate"], config)).toThrow(/Unknown option '--frobnicate'/);
  });

  it("dials this machine for a wildcard listen address", () => {
    expect(["0.0.0.0:50051", "[::]:7", "10.0.0.5:9"].map(dialAddress)).toEqual([
      "127.0.0.1:50051",
      "127.0.0.1:7",
      "10.0.0.5:9",
    ]);
  });
});
