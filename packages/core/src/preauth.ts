import { DomainError } from "./errors";

/**
 * Lifecycle of a hold: pending → captured | cancelled | expired, and expired → captured (a late capture still
 * charges: the provider did the work). declined is terminal at birth: no hold was ever made.
 */
export const PREAUTH_STATUSES = ["pending", "captured", "cancelled", "expired", "declined"] as const;
export type PreAuthStatus = (typeof PREAUTH_STATUSES)[number];

export const PREAUTH_ACTIONS = ["capture", "cancel", "expire"] as const;
export type PreAuthAction = (typeof PREAUTH_ACTIONS)[number];

/**
 * Every (action, status) pair decided: `null` where the action may leave that status, otherwise the refusal
 * (FAILED_PRECONDITION) with its reason. The type is total, so a new status cannot be added without a decision.
 */
const REFUSALS: Readonly<Record<PreAuthAction, Readonly<Record<PreAuthStatus, string | null>>>> = {
  capture: {
    pending: null,
    expired: null,
    captured: "pre-authorization is already captured",
    cancelled: "pre-authorization is cancelled and cannot be captured",
    declined: "pre-authorization was declined; there is nothing to capture",
  },
  cancel: {
    pending: null,
    captured: "pre-authorization is captured and cannot be cancelled",
    cancelled: "pre-authorization is already cancelled",
    expired: "pre-authorization has expired; its hold is already released",
    declined: "pre-authorization was declined; there is nothing to cancel",
  },
  expire: {
    pending: null,
    captured: "pre-authorization is captured and cannot expire",
    cancelled: "pre-authorization is cancelled and cannot expire",
    expired: "pre-authorization has already expired",
    declined: "pre-authorization was declined and cannot expire",
  },
};

const TARGETS: Readonly<Record<PreAuthAction, PreAuthStatus>> = {
  capture: "captured",
  cancel: "cancelled",
  expire: "expired",
};

function transitionOf(action: PreAuthAction) {
  const from: readonly PreAuthStatus[] = PREAUTH_STATUSES.filter(
    (status) => REFUSALS[action][status] === null,
  );
  return { from, to: TARGETS[action] };
}

/** For each action, the statuses it may leave from (derived from the refusal table) and where it leads. */
export const PREAUTH_TRANSITIONS: Readonly<
  Record<PreAuthAction, { readonly from: readonly PreAuthStatus[]; readonly to: PreAuthStatus }>
> = {
  capture: transitionOf("capture"),
  cancel: transitionOf("cancel"),
  expire: transitionOf("expire"),
};

export function isPreAuthStatus(value: unknown): value is PreAuthStatus {
  return typeof value === "string" && (PREAUTH_STATUSES as readonly string[]).includes(value);
}

/** Whether the status still holds funds and may change (only pending). */
export function isPreAuthOpen(status: PreAuthStatus): boolean {
  return status === "pending";
}

/** Whether a status can never change again. expired is not final: it may still be captured. */
export function isPreAuthFinal(status: PreAuthStatus): boolean {
  return status === "captured" || status === "cancelled" || status === "declined";
}

export function canApply(action: PreAuthAction, status: PreAuthStatus): boolean {
  return PREAUTH_TRANSITIONS[action].from.includes(status);
}

/** The next status after `action`, or FAILED_PRECONDITION (with a message saying why) when the status forbids it. */
export function applyPreAuthAction(action: PreAuthAction, status: PreAuthStatus): PreAuthStatus {
  if (!isPreAuthStatus(status)) {
    throw new DomainError("INTERNAL", `unknown pre-authorization status ${JSON.stringify(status)}`);
  }
  const refusal = REFUSALS[action][status];
  if (refusal === null) return TARGETS[action];
  throw DomainError.precondition(refusal);
}

export function capture(status: PreAuthStatus): PreAuthStatus {
  return applyPreAuthAction("capture", status);
}

export function cancel(status: PreAuthStatus): PreAuthStatus {
  return applyPreAuthAction("cancel", status);
}

export function expire(status: PreAuthStatus): PreAuthStatus {
  return applyPreAuthAction("expire", status);
}
