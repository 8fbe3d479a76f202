import type { PriceTier } from "@heidrun/core";
import type { ImportEntry, ImportSkip, ParsedPriceFile } from "./price-import";
import { DecimalText, numberText, scaleDecimal } from "./price-import-decimal";
import type { PriceInput } from "./prices";

/** Thrown for a file that cannot be read as a catalog at all (as opposed to one bad entry, which is skipped). */
export class PriceFileError extends Error {
  override readonly name = "PriceFileError";
}

const AMOUNTS = [
  ["input_micros_per_mtok", "input"],
  ["output_micros_per_mtok", "output"],
  ["cached_input_micros_per_mtok", "cachedInput"],
  ["cache_write_micros_per_mtok", "cacheWrite"],
] as const;
const ENTRY_FIELDS = new Set([
  "provider_id",
  "model",
  "tiers",
  "effective_from",
  "source",
  "note",
  ...AMOUNTS.map(([name]) => name),
]);
const TIER_FIELDS = new Set(["above_input_tokens", ...AMOUNTS.map(([name]) => name)]);

/** An entry's problem: the entry is skipped with this reason. */
class EntryProblem extends Error {}

function whole(value: unknown, field: string, unit = "micros per 1M tokens"): bigint | undefined {
  const text = numberText(value);
  if (text === undefined) return undefined;
  if (typeof text !== "string") throw new EntryProblem(`${field}: ${text.problem}`);
  const scaled = scaleDecimal(text, 0, unit);
  if (scaled.problem !== undefined) throw new EntryProblem(`${field}: ${scaled.problem}`);
  return scaled.value;
}

function required(value: bigint | undefined, field: string): bigint {
  if (value === undefined) throw new EntryProblem(`${field} is required`);
  return value;
}

function text(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "")
    throw new EntryProblem(`${field} must be a non-empty string`);
  return value;
}

function instant(value: unknown, field: string): Date | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const date = typeof value === "string" ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw new EntryProblem(`${field} must be an ISO 8601 timestamp`);
  return date;
}

function unknownField(record: Record<string, unknown>, known: ReadonlySet<string>, where: string): void {
  const extra = Object.keys(record).find((key) => !known.has(key));
  if (extra !== undefined) throw new EntryProblem(`${where}unknown field ${extra}`);
}

function tierFrom(raw: unknown, at: string): PriceTier {
  if (typeof raw !== "object" || raw === null || raw instanceof DecimalText)
    throw new EntryProblem(`${at} must be an object`);
  const record = raw as Record<string, unknown>;
  unknownField(record, TIER_FIELDS, `${at}: `);
  const tier: PriceTier = {
    aboveInputTokens: required(
      whole(record.above_input_tokens, `${at}.above_input_tokens`, "tokens"),
      `${at}.above_input_tokens`,
    ),
  };
  for (const [name, key] of AMOUNTS) tier[key] = whole(record[name], `${at}.${name}`) ?? null;
  return tier;
}

function entryFrom(record: Record<string, unknown>): PriceInput {
  unknownField(record, ENTRY_FIELDS, "");
  const tiers = record.tiers ?? [];
  if (!Array.isArray(tiers)) throw new EntryProblem("tiers must be a list");
  return {
    providerId: text(record.provider_id, "provider_id"),
    model: text(record.model, "model"),
    inputMicrosPerMtok: required(
      whole(record.input_micros_per_mtok, "input_micros_per_mtok"),
      "input_micros_per_mtok",
    ),
    outputMicrosPerMtok: required(
      whole(record.output_micros_per_mtok, "output_micros_per_mtok"),
      "output_micros_per_mtok",
    ),
    cachedInputMicrosPerMtok:
      whole(record.cached_input_micros_per_mtok, "cached_input_micros_per_mtok") ?? null,
    cacheWriteMicrosPerMtok: whole(record.cache_write_micros_per_mtok, "cache_write_micros_per_mtok") ?? null,
    tiers: tiers.map((tier, index) => tierFrom(tier, `tiers[${index}]`)),
    effectiveFrom: instant(record.effective_from, "effective_from"),
  };
}

function labelOf(record: Record<string, unknown>, fallback: string): string {
  const { provider_id: provider, model } = record;
  return typeof provider === "string" && typeof model === "string" ? `${provider}/${model}` : fallback;
}

/** Heidrun's JSON catalog: `{ "currency"?, "prices": [ { provider_id, model, …_micros_per_mtok, tiers?, effective_from? } ] }`. */
export function parseHeidrunJson(document: Record<string, unknown>): ParsedPriceFile {
  const prices = document.prices;
  if (!Array.isArray(prices)) throw new PriceFileError(`"prices" must be a list`);
  const currency = typeof document.currency === "string" ? document.currency : undefined;
  const entries: ImportEntry[] = [];
  const skipped: ImportSkip[] = [];
  prices.forEach((raw, index) => {
    const fallback = `prices[${index}]`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      skipped.push({ label: fallback, reason: "not an object" });
      return;
    }
    const record = raw as Record<string, unknown>;
    try {
      entries.push({ label: labelOf(record, fallback), price: { ...entryFrom(record), currency } });
    } catch (error) {
      if (!(error instanceof EntryProblem)) throw error;
      skipped.push({ label: labelOf(record, fallback), reason: error.message });
    }
  });
  return { format: "heidrun-json", entries, skipped };
}

export const CSV_COLUMNS = [
  "provider_id",
  "model",
  "above_input_tokens",
  "input_micros_per_mtok",
  "output_micros_per_mtok",
  "cached_input_micros_per_mtok",
  "cache_write_micros_per_mtok",
  "effective_from",
] as const;

/** RFC 4180 fields: commas separate, double quotes wrap, "" is a quote inside quotes. */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quoted && char === '"' && line[i + 1] === '"') {
      field += '"';
      i++;
    } else if (char === '"') {
      quoted = !quoted;
    } else if (char === "," && !quoted) {
      fields.push(field.trim());
      field = "";
    } else {
      field += char;
    }
  }
  fields.push(field.trim());
  return fields;
}

/**
 * Heidrun's CSV catalog: a header naming CSV_COLUMNS (any order; unknown columns are an error), one row per
 * price; a row with above_input_tokens adds a long-context tier to the price of the same provider and model.
 * Empty lines and lines starting with # are ignored.
 */
export function parseHeidrunCsv(content: string): ParsedPriceFile {
  const lines = content.split(/\r?\n/).map((line, index) => ({ line, number: index + 1 }));
  const rows = lines.filter(({ line }) => line.trim() !== "" && !line.trimStart().startsWith("#"));
  const header = rows.shift();
  if (!header) throw new PriceFileError("the CSV file has no header line");
  const columns = csvFields(header.line);
  const unknown = columns.find((name) => !(CSV_COLUMNS as readonly string[]).includes(name));
  if (unknown !== undefined)
    throw new PriceFileError(`unknown CSV column "${unknown}" (columns: ${CSV_COLUMNS.join(", ")})`);
  const bases = new Map<string, { entry: ImportEntry; tiers: PriceTier[] }>();
  const tierRows: { key: string; label: string; tier: PriceTier }[] = [];
  const skipped: ImportSkip[] = [];
  for (const { line, number } of rows) {
    const cells = csvFields(line);
    const record = Object.fromEntries(
      columns.map((name, i) => [name, cells[i] === "" ? undefined : cells[i]]),
    );
    const label = `line ${number} (${labelOf(record, "?")})`;
    try {
      const key = `${text(record.provider_id, "provider_id")}/${text(record.model, "model")}`;
      if (record.above_input_tokens !== undefined) {
        const tierCells = Object.fromEntries(
          Object.entries(record).filter(([name]) => TIER_FIELDS.has(name)),
        );
        tierRows.push({ key, label, tier: tierFrom(tierCells, "tier") });
        continue;
      }
      const { above_input_tokens: _, ...base } = record;
      const price = entryFrom(base);
      const known = bases.get(key);
      if (known) throw new EntryProblem(`duplicate of ${known.entry.label}`);
      const tiers: PriceTier[] = [];
      bases.set(key, { entry: { label, price: { ...price, tiers } }, tiers });
    } catch (error) {
      if (!(error instanceof EntryProblem)) throw error;
      skipped.push({ label, reason: error.message });
    }
  }
  for (const { key, label, tier } of tierRows) {
    const base = bases.get(key);
    if (base) base.tiers.push(tier);
    else skipped.push({ label, reason: `a tier row without a base row for ${key}` });
  }
  return { format: "heidrun-csv", entries: [...bases.values()].map(({ entry }) => entry), skipped };
}
