// Plain JavaScript on purpose: this module is loaded both by the TypeScript package (tsx, vitest) and by
// count-worker.mjs inside a worker thread, where no TypeScript loader exists. One implementation of
// "count this text with that tokenizer" serves both threads, so inline and off-thread counts cannot drift.
import { createRequire } from "node:module";

// require, not import: a counter can then be built synchronously on first use, and warmUp() merely moves
// that cost (hundreds of milliseconds for o200k_base) to startup.
const require = createRequire(import.meta.url);

// Message content is counted as ordinary text, the way tiktoken's encode_ordinary (and the OpenAI API) does:
// a user typing "<|endoftext|>" is billed for those characters, and counting never throws on them.
const ORDINARY_TEXT = { disallowedSpecial: new Set() };

function gptTokenizerCounter(encoding) {
  return (text) => encoding.countTokens(text, ORDINARY_TEXT);
}

function claudeCounter() {
  // One tokenizer for the life of the thread: the library's countTokens() builds (and frees) a new WASM
  // tokenizer on every call, which costs far more than the count itself.
  const tokenizer = require("@anthropic-ai/tokenizer").getTokenizer();
  // Same normalisation and special-token handling as the library's own countTokens().
  return (text) => tokenizer.encode(text.normalize("NFKC"), "all").length;
}

const loaders = {
  o200k_base: () => gptTokenizerCounter(require("gpt-tokenizer/encoding/o200k_base")),
  cl100k_base: () => gptTokenizerCounter(require("gpt-tokenizer/encoding/cl100k_base")),
  claude: claudeCounter,
};

export const BPE_TOKENIZERS = Object.freeze(Object.keys(loaders));

const loaded = new Map();

export function bpeTextCounter(name) {
  let count = loaded.get(name);
  if (count === undefined) {
    const load = loaders[name];
    if (load === undefined) throw new Error(`no BPE tokenizer named ${JSON.stringify(name)}`);
    count = load();
    loaded.set(name, count);
  }
  return count;
}

export function isBpeTokenizerLoaded(name) {
  return loaded.has(name);
}
