import { parse } from "lossless-json";

/** A JSON number kept as the text it was written as (`1.5e-07`), so no binary float ever touches it. */
export class DecimalText {
  constructor(readonly text: string) {}
}

/** JSON.parse, except that every number stays a DecimalText. */
export function parseJsonExact(text: string): unknown {
  return parse(text, null, (value: string) => new DecimalText(value));
}

export type Scaled = { value: bigint; problem?: undefined } | { value?: undefined; problem: string };

const DECIMAL = /^(-?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/;
// Prices are at most 10^12 micros/Mtok; an exponent beyond this can only be garbage or a DoS.
const MAX_EXPONENT = 400;

/**
 * `text` × 10^`scale` as an exact non-negative integer, or why it is not one. `text` is a decimal as JSON or
 * a CSV cell writes it (`0.15`, `1.5e-07`, `150000`). A fraction left after scaling is reported with its exact
 * value, never rounded.
 */
export function scaleDecimal(text: string, scale: number, unit: string): Scaled {
  const match = DECIMAL.exec(text.trim());
  const [, sign, whole = "", fraction = "", exponentText] = match ?? [];
  if (!match || whole.length + fraction.length === 0) return { problem: `"${text}" is not a number` };
  const exponent = exponentText === undefined ? 0 : Number.parseInt(exponentText, 10);
  if (exponent > MAX_EXPONENT || exponent < -MAX_EXPONENT) return { problem: `"${text}" is out of range` };
  const digits = BigInt(`${whole}${fraction}` || "0");
  if (sign === "-" && digits !== 0n) return { problem: `"${text}" is negative` };
  const shift = exponent - fraction.length + scale;
  if (shift >= 0) return { value: digits * 10n ** BigInt(shift) };
  const divisor = 10n ** BigInt(-shift);
  if (digits % divisor === 0n) return { value: digits / divisor };
  const exact = `${digits / divisor}.${(digits % divisor).toString().padStart(-shift, "0").replace(/0+$/, "")}`;
  return { problem: `${text} is ${exact} ${unit}, not a whole number` };
}

/** The text of a JSON number or numeric string; undefined for absent/null; a problem for anything else. */
export function numberText(value: unknown): string | undefined | { problem: string } {
  if (value === undefined || value === null) return undefined;
  if (value instanceof DecimalText) return value.text;
  if (typeof value === "string" && value.trim() !== "") return value;
  return { problem: `${JSON.stringify(value)} is not a number` };
}
