import { DomainError } from "./errors";
import { validateId } from "./identifiers";
import { INT64_MAX, type Micros } from "./money";

/** Basis points: 1500 = 15 %. */
export type Bps = number;

export const MAX_BPS = 10_000;
export const DEFAULT_COMMISSION_BPS = 1_500;

export interface CommissionSplit {
  totalCostMicros: Micros;
  providerEarningsMicros: Micros;
  companyFeeMicros: Micros;
  commissionRateBps: Bps;
}

export interface CommissionSettings {
  defaultBps: Bps;
  minBps: Bps;
  maxBps: Bps;
  /** provider_id → bps */
  overrides: Readonly<Record<string, Bps>>;
}

const BPS_SCALE = 10_000n;
const HALF_BPS_SCALE = 5_000n;

function isBps(value: unknown): value is Bps {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_BPS;
}

/**
 * Splits a charge: fee = total × bps / 10,000 rounded half to even (ties alternate, so no side gains from
 * rounding over many charges); earnings = total − fee, so the two always add up to the total.
 */
export function splitCommission(totalCostMicros: Micros, commissionRateBps: Bps): CommissionSplit {
  if (typeof totalCostMicros !== "bigint" || totalCostMicros < 0n || totalCostMicros > INT64_MAX) {
    throw DomainError.invalid("total_cost_micros", `must be between 0 and int64 max, got ${totalCostMicros}`);
  }
  if (!isBps(commissionRateBps)) {
    throw DomainError.invalid(
      "commission_rate_bps",
      `must be an integer from 0 to ${MAX_BPS}, got ${commissionRateBps}`,
    );
  }
  const scaled = totalCostMicros * BigInt(commissionRateBps);
  let fee = scaled / BPS_SCALE;
  const remainder = scaled - fee * BPS_SCALE;
  if (remainder > HALF_BPS_SCALE || (remainder === HALF_BPS_SCALE && (fee & 1n) === 1n)) fee += 1n;
  return {
    totalCostMicros,
    providerEarningsMicros: totalCostMicros - fee,
    companyFeeMicros: fee,
    commissionRateBps,
  };
}

function describeBps(value: unknown): string {
  return typeof value === "number" ? `${value}` : typeof value;
}

/**
 * Checks commission settings; a bad value is named by its settings path. INVALID_ARGUMENT, since the
 * settings are the input here (the config loader calls this when a file is loaded).
 */
export function validateCommissionSettings(
  settings: CommissionSettings,
  fieldPrefix = "commission",
): CommissionSettings {
  const at = (name: string) => `${fieldPrefix}.${name}`;
  for (const key of ["minBps", "maxBps", "defaultBps"] as const) {
    if (!isBps(settings[key])) {
      throw DomainError.invalid(
        at(key),
        `must be an integer from 0 to ${MAX_BPS}, got ${describeBps(settings[key])}`,
      );
    }
  }
  const { minBps, maxBps, defaultBps } = settings;
  if (minBps > maxBps) throw DomainError.invalid(at("minBps"), `${minBps} is above maxBps ${maxBps}`);
  const inRange = (bps: Bps) => bps >= minBps && bps <= maxBps;
  if (!inRange(defaultBps)) {
    throw DomainError.invalid(
      at("defaultBps"),
      `${defaultBps} bps is outside the allowed ${minBps}–${maxBps} bps`,
    );
  }
  for (const [providerId, bps] of Object.entries(settings.overrides ?? {})) {
    validateId(providerId, at(`overrides.${providerId}`));
    if (!isBps(bps) || !inRange(bps)) {
      throw DomainError.invalid(
        at(`overrides.${providerId}`),
        `${describeBps(bps)} bps is outside the allowed ${minBps}–${maxBps} bps`,
      );
    }
  }
  return settings;
}

/**
 * The commission rate for a provider: its override, else the default. A rate the settings put outside their
 * own allowed range is FAILED_PRECONDITION: the request is fine, the configuration forbids charging it.
 */
export function resolveCommissionBps(providerId: string, settings: CommissionSettings): Bps {
  validateId(providerId, "provider_id");
  const { minBps, maxBps } = settings;
  if (!isBps(minBps) || !isBps(maxBps) || minBps > maxBps) {
    throw DomainError.precondition(
      `commission range is misconfigured: minBps ${describeBps(minBps)}, maxBps ${describeBps(maxBps)}`,
    );
  }
  // hasOwn, not `in`/indexing: a provider called "constructor" must not pick up Object.prototype members.
  const overridden = settings.overrides !== undefined && Object.hasOwn(settings.overrides, providerId);
  const bps: unknown = overridden ? settings.overrides[providerId] : settings.defaultBps;
  if (!isBps(bps) || bps < minBps || bps > maxBps) {
    const source = overridden ? `override for provider ${providerId}` : "default commission rate";
    throw DomainError.precondition(
      `${source} ${describeBps(bps)} bps is outside the allowed range ${minBps}–${maxBps} bps`,
    );
  }
  return bps;
}
