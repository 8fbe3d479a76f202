import type { ChatMessage } from "./types";

/*
 * How OpenAI bills a list of chat messages, from the OpenAI cookbook "How to count tokens with tiktoken",
 * section 6 (num_tokens_from_messages): every message costs 3 tokens of framing
 * (<|start|>{role}<|message|>…<|end|>) plus the tokens of each of its string fields (role, content, name),
 * a name costs 1 more, and the reply is primed with <|start|>assistant<|message|> (3 tokens).
 * The cookbook checks this against the API: 129 prompt tokens for its example on gpt-3.5-turbo / gpt-4,
 * 124 on gpt-4o / gpt-4o-mini.
 *
 * gpt-tokenizer's encodeChat agrees when no message has a name, but encodes the name INSTEAD of the role
 * (the gpt-3.5-turbo-0301 convention), so it undercounts named messages (121 and 116 for that example);
 * that is why the formula lives here rather than being delegated to encodeChat.
 *
 * Claude and the estimate reuse the same framing as an approximation; both report exact = false.
 */
export const TOKENS_PER_MESSAGE = 3n;
export const TOKENS_PER_NAME = 1n;
export const REPLY_PRIMING_TOKENS = 3n;

/** Framing tokens of a message list; no messages means no request and no reply to prime. */
export function chatFramingTokens(messages: readonly ChatMessage[]): bigint {
  if (messages.length === 0) return 0n;
  let tokens = REPLY_PRIMING_TOKENS;
  for (const message of messages) {
    tokens += TOKENS_PER_MESSAGE;
    if (message.name) tokens += TOKENS_PER_NAME;
  }
  return tokens;
}

/** The strings whose tokens are counted on top of the framing, in message order. */
export function chatTexts(messages: readonly ChatMessage[]): string[] {
  const texts: string[] = [];
  for (const message of messages) {
    texts.push(message.role, message.content);
    if (message.name) texts.push(message.name);
  }
  return texts;
}
