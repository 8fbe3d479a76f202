import type { PriceTier } from "@heidrun/core";
import type { ImportEntry, ImportSkip, ParsedPriceFile } from "./price-import";
import { numberText, scaleDecimal } from "./price-import-decimal";

/** LiteLLM price field → the kind of price it is. */
const KINDS = {
  input_cost_per_token: "input",
  output_cost_per_token: "output",
  cache_read_input_token_cost: "cachedInput",
  cache_creation_input_token_cost: "cacheWrite",
} as const;
type LiteLlmField = keyof typeof KINDS;
type Kind = (typeof KINDS)[LiteLlmField];

/** `input_cost_per_token_above_200k_tokens` → a tier above 200000 input tokens. */
const TIERED_FIELD =
  /^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost)_above_([0-9]{1,9})k_tokens$/;

/** Dollars per token to micros per 1M tokens: × 10^6 micros per dollar × 10^6 tokens. */
const DOLLARS_PER_TOKEN_TO_MICROS_PER_MTOK = 12;

class EntryProblem extends Error {}

function microsPerMtok(value: unknown, field: string): bigint | undefined {
  const text = numberText(value);
  if (text === undefined) return undefined;
  if (typeof text !== "string") throw new EntryProblem(`${field}: ${text.problem}`);
  const scaled = scaleDecimal(text, DOLLARS_PER_TOKEN_TO_MICROS_PER_MTOK, "micros per 1M tokens");
  if (scaled.problem !== undefined) throw new EntryProblem(`${field}: ${scaled.problem}`);
  return scaled.value;
}

function entryFrom(model: string, providerId: string, record: Record<string, unknown>): ImportEntry {
  const base: Partial<Record<Kind, bigint>> = {};
  const tiers = new Map<bigint, PriceTier>();
  for (const [field, value] of Object.entries(record)) {
    if (field in KINDS) {
      const amount = microsPerMtok(value, field);
      if (amount !== undefined) base[KINDS[field as LiteLlmField]] = amount;
      continue;
    }
    const tiered = TIERED_FIELD.exec(field);
    if (!tiered) continue;
    const amount = microsPerMtok(value, field);
    if (amount === undefined) continue;
    const above = BigInt(tiered[2] ?? "0") * 1000n;
    const tier = tiers.get(above) ?? { aboveInputTokens: above };
    tier[KINDS[tiered[1] as LiteLlmField]] = amount;
    tiers.set(above, tier);
  }
  if (base.input === undefined || base.output === undefined) {
    const mode = typeof record.mode === "string" ? ` (mode ${record.mode})` : "";
    throw new EntryProblem(`no per-token input and output price${mode}`);
  }
  return {
    label: `${providerId}/${model}`,
    price: {
      providerId,
      model,
      inputMicrosPerMtok: base.input,
      outputMicrosPerMtok: base.output,
      cachedInputMicrosPerMtok: base.cachedInput ?? null,
      cacheWriteMicrosPerMtok: base.cacheWrite ?? null,
      tiers: [...tiers.values()],
    },
  };
}

/**
 * LiteLLM's model_prices_and_context_window.json: `{ "<model>": { litellm_provider, input_cost_per_token, … } }`
 * with dollars per token written as decimal text (`1.5e-07`), converted exactly to micros per 1M tokens.
 */
export function parseLiteLlm(document: Record<string, unknown>): ParsedPriceFile {
  const entries: ImportEntry[] = [];
  const skipped: ImportSkip[] = [];
  for (const [model, raw] of Object.entries(document)) {
    if (model === "sample_spec") continue;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      skipped.push({ label: model, reason: "not an object" });
      continue;
    }
    const record = raw as Record<string, unknown>;
    const providerId = record.litellm_provider;
    if (typeof providerId !== "string" || providerId === "") {
      skipped.push({ label: model, reason: "no litellm_provider" });
      continue;
    }
    try {
      entries.push(entryFrom(model, providerId, record));
    } catch (error) {
      if (!(error instanceof EntryProblem)) throw error;
      skipped.push({ label: `${providerId}/${model}`, reason: error.message });
    }
  }
  return { format: "litellm", entries, skipped };
}
