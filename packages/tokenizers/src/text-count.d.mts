export type BpeTokenizerName = "o200k_base" | "cl100k_base" | "claude";

export declare const BPE_TOKENIZERS: readonly BpeTokenizerName[];

/** Counts one text; loads the tokenizer synchronously on first use. Counts are plain numbers here. */
export declare function bpeTextCounter(name: BpeTokenizerName): (text: string) => number;

export declare function isBpeTokenizerLoaded(name: BpeTokenizerName): boolean;
