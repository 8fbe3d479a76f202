import { DomainError } from "@heidrun/core";
import { baseModelName } from "./model-routing";
import { isTokenizerName, type TokenizerName } from "./types";

/*
 * The tokenizers.modelMap setting: model name → tokenizer name, where a key may contain `*` wildcards
 * ("acme-*", "azure/*", "*-instruct"). Keys are compared case-insensitively with the model as sent, with
 * "provider/model", and with the base name (provider path and fine-tune wrapper removed). An exact key beats
 * any pattern; among patterns the one with the most literal characters wins, then the earlier key.
 */
export type ModelMapSetting = Readonly<Record<string, string>>;

interface Pattern {
  regex: RegExp;
  literalLength: number;
  tokenizer: TokenizerName;
}

export interface CompiledModelMap {
  readonly exact: ReadonlyMap<string, TokenizerName>;
  readonly patterns: readonly Pattern[];
}

function escapeRegex(literal: string): string {
  return literal.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

export function compileModelMap(setting: ModelMapSetting): CompiledModelMap {
  const exact = new Map<string, TokenizerName>();
  const patterns: Pattern[] = [];
  for (const [rawKey, tokenizer] of Object.entries(setting)) {
    const key = rawKey.trim().toLowerCase();
    const field = `tokenizers.modelMap[${JSON.stringify(rawKey)}]`;
    if (key === "") throw DomainError.invalid(field, "model name must not be empty");
    if (!isTokenizerName(tokenizer)) {
      throw DomainError.invalid(field, `unknown tokenizer ${JSON.stringify(tokenizer)}`);
    }
    if (!key.includes("*")) {
      exact.set(key, tokenizer);
      continue;
    }
    const source = key.split("*").map(escapeRegex).join(".*");
    patterns.push({
      regex: new RegExp(`^${source}$`),
      literalLength: key.replaceAll("*", "").length,
      tokenizer,
    });
  }
  // Stable sort: equal specificity keeps the setting's order.
  patterns.sort((a, b) => b.literalLength - a.literalLength);
  return { exact, patterns };
}

export function lookupModelMap(
  map: CompiledModelMap,
  providerId: string,
  model: string,
): TokenizerName | undefined {
  const asSent = model.trim().toLowerCase();
  const provider = providerId.trim().toLowerCase();
  const candidates = [asSent, provider === "" ? asSent : `${provider}/${asSent}`, baseModelName(model)];
  for (const candidate of candidates) {
    const tokenizer = map.exact.get(candidate);
    if (tokenizer !== undefined) return tokenizer;
  }
  for (const pattern of map.patterns) {
    if (candidates.some((candidate) => pattern.regex.test(candidate))) return pattern.tokenizer;
  }
  return undefined;
}
