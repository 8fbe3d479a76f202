export const TOKENIZER_NAMES = ["o200k_base", "cl100k_base", "claude", "estimate"] as const;

/** What `CountTokensResponse.tokenizer` reports. */
export type TokenizerName = (typeof TOKENIZER_NAMES)[number];

export interface ChatMessage {
  role: string;
  content: string;
  /** Empty string and absent mean the same (proto3 strings have no "unset"). */
  name?: string;
}

export interface TokenCounter {
  readonly name: TokenizerName;
  /** True only when this is the provider's own tokenizer for the model; false for approximations. */
  readonly exact: boolean;
  countText(text: string): bigint;
  countMessages(messages: readonly ChatMessage[]): bigint;
}

export interface TokenCountResult {
  tokens: bigint;
  tokenizer: TokenizerName;
  exact: boolean;
}

export function isTokenizerName(value: string): value is TokenizerName {
  return (TOKENIZER_NAMES as readonly string[]).includes(value);
}
