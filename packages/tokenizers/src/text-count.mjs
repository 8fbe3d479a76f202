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

/*
 * gpt-tokenizer's split patterns use JavaScript's \s, which differs from the Unicode White_Space that
 * tiktoken's Rust regex means by \s: it lacks U+0085 (NEL) and adds U+FEFF. tiktoken's own test
 * (" \x85" + "0" → [220, 126, 227, 15]) fails without this. Our private encoding instances get the
 * pattern rewritten to \p{White_Space}; the field is private to the library, so its absence fails the
 * load loudly instead of silently counting differently.
 */
function withTiktokenWhitespace(encoding) {
  const core = encoding.bytePairEncodingCoreProcessor;
  const pattern = core?.tokenSplitRegex;
  if (!(pattern instanceof RegExp) || !pattern.flags.includes("u")) {
    throw new Error("gpt-tokenizer internals changed: no unicode tokenSplitRegex to align with tiktoken");
  }
  const source = pattern.source.replaceAll("\\s", "\\p{White_Space}").replaceAll("\\S", "\\P{White_Space}");
  core.tokenSplitRegex = new RegExp(source, pattern.flags);
  return encoding;
}

function gptTokenizerCounter(encodingName) {
  const { GptEncoding } = require("gpt-tokenizer/GptEncoding");
  const ranks = require(`gpt-tokenizer/bpeRanks/${encodingName}`).default;
  // A private instance, so the rewrite above never changes gpt-tokenizer for other code in the process.
  const encoding = withTiktokenWhitespace(GptEncoding.getEncodingApi(encodingName, () => ranks));
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
  o200k_base: () => gptTokenizerCounter("o200k_base"),
  cl100k_base: () => gptTokenizerCounter("cl100k_base"),
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
