import { DomainError } from "./errors";

/**
 * Lifecycle of a hold: pending → captured | cancelled | expired, and expired → captured (a late capture still
 * charges: the provider did the work). declined is terminal at birth: no hold was ever made.
 */
export const PREAUTH_STATUSES = ["pending", "captured", "cancelled", "expired", "declined"] as const;
export type PreAuthStatus = (typeof PREAUTH_STATUSES)[number];

export const PREAUTH_ACTIONS = ["capture", "cancel", "expire"] as const;
export type PreAuthAction = (typeof PREAUTH_ACTIONS)[number];

/** For each action, the statuses it may leave from. Everything else is FAILED_PRECONDITION. */
export const PREAUTH_TRANSITIONS: Readonly<
  Record<PreAuthAction, { readonly from: readonly PreAuthStatus[]; readonly to: PreAuthStatus }>
> = {
  capture: { from: ["pending", "expired"], to: "captured" },
  cancel: { from: ["pending"], to: "cancelled" },
  expire: { from: ["pending"], to: "expired" },
};

const REFUSALS: Readonly<Record<PreAuthAction, Partial<Record<PreAuthStatus, string>>>> = {
  capture: {
    captured: "pre-authorization is already captured",
    cancelled: "pre-authorization is cancelled and cannot be captured",
    declined: "pre-authorization was declined; there is nothing to capture",
  },
  cancel: {
    captured: "pre-authorization is captured and cannot be cancelled",
    cancelled: "pre-authorization is already cancelled",
    expired: "pre-authorization has expired; its hold is already released",
    declined: "pre-authorization was declined; there is nothing to cancel",
  },
  expire: {
    captured: "pre-authorization is captured and cannot expire",
    cancelled: "pre-authorization is cancelled and cannot expire",
    expired: "pre-authorization has already expired",
    declined: "pre-authorization was declined and cannot expire",
  },
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
  const transition = PREAUTH_TRANSITIONS[action];
  if (transition.from.includes(status)) return transition.to;
  throw DomainError.precondition(
    REFUSALS[action][status] ?? `cannot ${action} a ${status} pre-authorization`,
  );
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
