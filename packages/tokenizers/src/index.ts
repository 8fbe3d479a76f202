export {
  chatFramingTokens,
  chatTexts,
  REPLY_PRIMING_TOKENS,
  TOKENS_PER_MESSAGE,
  TOKENS_PER_NAME,
} from "./chat-format";
export { ESTIMATE_BYTES_PER_TOKEN, estimateTextTokens, tokenCounter } from "./counters";
export type { ModelMapSetting } from "./model-map";
export { baseModelName, builtinTokenizerFor } from "./model-routing";
export { CountWorkerPool, type CountWorkerPoolOptions, type OffThreadCount } from "./pool";
export { createTokenizerRegistry, type TokenizerRegistry, type TokenizerRegistryOptions } from "./registry";
export {
  type CountTokensRequest,
  type TokenCountingOptions,
  TokenCountingService,
  type TokenCountingStats,
} from "./service";
export {
  type ChatMessage,
  isTokenizerName,
  TOKENIZER_NAMES,
  type TokenCounter,
  type TokenCountResult,
  type TokenizerName,
} from "./types";
