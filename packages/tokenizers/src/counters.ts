import { chatFramingTokens, chatTexts } from "./chat-format";
import { type BpeTokenizerName, bpeTextCounter } from "./text-count.mjs";
import type { ChatMessage, TokenCounter, TokenizerName } from "./types";

/*
 * The estimate for models without a known tokenizer: one token per 4 bytes of UTF-8, rounded up, per text
 * (OpenAI's rule of thumb of ~4 characters of English per token; counting bytes rather than characters
 * errs towards more tokens for non-Latin scripts, which BPE vocabularies also split finer).
 * Messages use the same framing as OpenAI chat (chat-format.ts) with estimated texts.
 */
export const ESTIMATE_BYTES_PER_TOKEN = 4n;

export function estimateTextTokens(text: string): bigint {
  const bytes = BigInt(Buffer.byteLength(text, "utf8"));
  return (bytes + ESTIMATE_BYTES_PER_TOKEN - 1n) / ESTIMATE_BYTES_PER_TOKEN;
}

function countChat(messages: readonly ChatMessage[], countText: (text: string) => bigint): bigint {
  let tokens = chatFramingTokens(messages);
  for (const text of chatTexts(messages)) tokens += countText(text);
  return tokens;
}

function bpeCounter(name: BpeTokenizerName, exact: boolean): TokenCounter {
  const countText = (text: string): bigint => BigInt(bpeTextCounter(name)(text));
  return {
    name,
    exact,
    countText,
    countMessages: (messages) => countChat(messages, countText),
  };
}

const estimateCounter: TokenCounter = {
  name: "estimate",
  exact: false,
  countText: estimateTextTokens,
  countMessages: (messages) => countChat(messages, estimateTextTokens),
};

/*
 * OpenAI's encodings are the models' own tokenizers: exact. @anthropic-ai/tokenizer is the pre-Claude-3
 * vocabulary; current Claude models tokenize differently, so its counts are an approximation.
 */
const COUNTERS: Readonly<Record<TokenizerName, TokenCounter>> = {
  o200k_base: bpeCounter("o200k_base", true),
  cl100k_base: bpeCounter("cl100k_base", true),
  claude: bpeCounter("claude", false),
  estimate: estimateCounter,
};

/** The process-wide counter of a tokenizer; encoders load on first use (or in the registry's warmUp). */
export function tokenCounter(name: TokenizerName): TokenCounter {
  return COUNTERS[name];
}
