import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DomainError } from "./errors";
import {
  applyPreAuthAction,
  canApply,
  cancel,
  capture,
  expire,
  isPreAuthFinal,
  isPreAuthOpen,
  isPreAuthStatus,
  PREAUTH_ACTIONS,
  PREAUTH_STATUSES,
  PREAUTH_TRANSITIONS,
  type PreAuthAction,
  type PreAuthStatus,
} from "./preauth";

// The whole table: every (status, action) pair, the next status or the refusal.
const EXPECTED: Record<PreAuthStatus, Record<PreAuthAction, PreAuthStatus | "refused">> = {
  pending: { capture: "captured", cancel: "cancelled", expire: "expired" },
  captured: { capture: "refused", cancel: "refused", expire: "refused" },
  cancelled: { capture: "refused", cancel: "refused", expire: "refused" },
  expired: { capture: "captured", cancel: "refused", expire: "refused" },
  declined: { capture: "refused", cancel: "refused", expire: "refused" },
};

const byName = { capture, cancel, expire } as const;

function outcome(run: () => PreAuthStatus): PreAuthStatus | "refused" {
  try {
    return run();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe("FAILED_PRECONDITION");
    return "refused";
  }
}

describe("pre-authorization state machine", () => {
  it("lists for each action exactly the statuses the whole table lets it leave", () => {
    for (const action of ["capture", "cancel", "expire"] as const) {
      const allowed = (Object.keys(EXPECTED) as PreAuthStatus[]).filter(
        (status) => EXPECTED[status][action] !== "refused",
      );
      expect([...PREAUTH_TRANSITIONS[action].from].sort()).toEqual(allowed.sort());
      expect(PREAUTH_TRANSITIONS[action].to).toBe(EXPECTED.pending[action]);
    }
  });

  const pairs = PREAUTH_STATUSES.flatMap((status) =>
    PREAUTH_ACTIONS.map((action) => [status, action] as const),
  );

  it.each(pairs)("%s + %s", (status, action) => {
    expect(outcome(() => byName[action](status))).toBe(EXPECTED[status][action]);
    expect(canApply(action, status)).toBe(EXPECTED[status][action] !== "refused");
  });

  it("says why with the contract's cases", () => {
    expect(() => capture("cancelled")).toThrow("pre-authorization is cancelled and cannot be captured");
    expect(() => capture("captured")).toThrow("pre-authorization is already captured");
    expect(() => cancel("captured")).toThrow("pre-authorization is captured and cannot be cancelled");
  });

  it("classifies statuses", () => {
    expect(PREAUTH_STATUSES.filter(isPreAuthOpen)).toEqual(["pending"]);
    expect(PREAUTH_STATUSES.filter(isPreAuthFinal)).toEqual(["captured", "cancelled", "declined"]);
    expect(["pending", "PENDING", "", null].map(isPreAuthStatus)).toEqual([true, false, false, false]);
  });

  it("treats an unknown status as a bug, not as a client error", () => {
    expect(() => applyPreAuthAction("capture", "settled" as PreAuthStatus)).toThrow(
      expect.objectContaining({ code: "INTERNAL" }),
    );
  });

  it("always refuses illegal transitions, along any sequence of actions (10,000 runs)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PREAUTH_STATUSES),
        fc.array(fc.constantFrom(...PREAUTH_ACTIONS)),
        (start, actions) => {
          let status = start;
          for (const action of actions) {
            const expected = EXPECTED[status][action];
            let refused = false;
            try {
              status = applyPreAuthAction(action, status);
            } catch (error) {
              refused = error instanceof DomainError && error.code === "FAILED_PRECONDITION";
            }
            if (expected === "refused" ? !refused : refused || status !== expected) return false;
          }
          // Whatever happened, once final a status stays final.
          return !isPreAuthFinal(start) || status === start;
        },
      ),
      { numRuns: 10_000 },
    );
  });
});
