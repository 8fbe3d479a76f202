import type { TokenizerName } from "./types";

/*
 * Built-in routing from (provider, model) to a tokenizer. Model families follow tiktoken's
 * MODEL_PREFIX_TO_ENCODING and gpt-tokenizer's model map; anything not listed falls to the estimate,
 * and ops route such names through the modelMap setting instead of waiting for a release.
 */

/** A family matches the name itself or the name followed by a separator: "o1" takes "o1-mini", not "o10". */
const O200K_FAMILIES = [
  "gpt-4o",
  "chatgpt-4o",
  "gpt-4.1",
  "gpt-4.5",
  "gpt-5",
  "gpt-oss",
  "o1",
  "o3",
  "o4",
  "codex-mini",
  "computer-use-preview",
  "gpt-realtime",
  "gpt-audio",
  "gpt-image",
  "omni-moderation",
];

const CL100K_FAMILIES = [
  "gpt-4",
  "gpt-3.5-turbo",
  "gpt-35-turbo", // Azure OpenAI's spelling
  "text-embedding-3-small",
  "text-embedding-3-large",
  "text-embedding-ada-002",
  "davinci-002",
  "babbage-002",
];

const FAMILY_SEPARATORS = new Set(["-", ".", ":", "@", "_"]);

function inFamily(model: string, family: string): boolean {
  if (!model.startsWith(family)) return false;
  const next = model[family.length];
  return next === undefined || FAMILY_SEPARATORS.has(next);
}

/**
 * The model's base name for routing: lower-cased, without a router/provider path ("openai/gpt-4o",
 * "azure/eu/gpt-4o"), a vendor dot-prefix (Bedrock's "anthropic.claude-…") or a fine-tune wrapper
 * ("ft:gpt-4o-mini-2024-07-18:acme::abc123" and the legacy "curie:ft-acme-2023-…").
 */
export function baseModelName(model: string): string {
  let name = model.trim().toLowerCase();
  name = name.slice(name.lastIndexOf("/") + 1);
  name = name.replace(/^(openai|anthropic)\./, "");
  if (name.startsWith("ft:")) return name.slice(3).split(":")[0] ?? "";
  const legacyFineTune = name.indexOf(":ft-");
  return legacyFineTune > 0 ? name.slice(0, legacyFineTune) : name;
}

export function builtinTokenizerFor(providerId: string, model: string): TokenizerName {
  const base = baseModelName(model);
  // o200k first: "gpt-4o" and "gpt-4.1" would otherwise be taken by the cl100k family "gpt-4".
  if (O200K_FAMILIES.some((family) => inFamily(base, family))) return "o200k_base";
  if (CL100K_FAMILIES.some((family) => inFamily(base, family))) return "cl100k_base";
  if (base.startsWith("claude")) return "claude";
  if (providerId.trim().toLowerCase() === "anthropic") return "claude";
  return "estimate";
}
