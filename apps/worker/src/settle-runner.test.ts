import { DomainError } from "@heidrun/core";
import { describe, expect, it } from "vitest";
import { failureReason, isTransient } from "./settle-runner";

function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** What drizzle throws: its own error with the pg error as the cause. */
function wrapped(cause: Error): Error {
  return new Error(`Failed query: INSERT …\nparams: …`, { cause });
}

describe("settle runner error classes", () => {
  it("retries what a later attempt may not meet", () => {
    expect(isTransient(wrapped(pgError("40001", "could not serialize access")))).toBe(true);
    expect(isTransient(wrapped(pgError("40P01", "deadlock detected")))).toBe(true);
    expect(
      isTransient(wrapped(pgError("57P01", "terminating connection due to administrator command"))),
    ).toBe(true);
    expect(isTransient(wrapped(pgError("57014", "canceling statement due to statement timeout")))).toBe(true);
    expect(isTransient(pgError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"))).toBe(true);
    expect(isTransient(new Error("timeout exceeded when trying to connect"))).toBe(true);
    expect(isTransient(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(isTransient(DomainError.unavailable("down"))).toBe(true);
  });

  it("splits the batch for what no retry fixes", () => {
    expect(isTransient(wrapped(pgError("22003", "bigint out of range")))).toBe(false);
    expect(isTransient(wrapped(pgError("23514", "violates check constraint")))).toBe(false);
    expect(isTransient(wrapped(pgError("P0001", "poisoned")))).toBe(false);
    expect(isTransient(DomainError.invalid("events[0].data", "contains a lone UTF-16 surrogate"))).toBe(
      false,
    );
    expect(isTransient(new TypeError("x is undefined"))).toBe(false);
  });

  it("names the database's own message and SQLSTATE, not drizzle's query dump", () => {
    expect(failureReason(wrapped(pgError("22003", "bigint out of range")))).toBe(
      "settlement failed: bigint out of range (SQLSTATE 22003)",
    );
    expect(failureReason(new Error("boom"))).toBe("settlement failed: boom");
  });
});
