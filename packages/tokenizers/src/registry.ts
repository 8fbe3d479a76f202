import { tokenCounter } from "./counters";
import { type CompiledModelMap, compileModelMap, lookupModelMap, type ModelMapSetting } from "./model-map";
import { builtinTokenizerFor } from "./model-routing";
import { BPE_TOKENIZERS, bpeTextCounter } from "./text-count.mjs";
import type { TokenCounter } from "./types";

export interface TokenizerRegistryOptions {
  /** The tokenizers.modelMap setting; see model-map.ts for the key syntax. */
  modelMap?: ModelMapSetting;
}

export interface TokenizerRegistry {
  /** The modelMap wins over the built-in rules; unknown models get the estimate. Never throws. */
  resolve(providerId: string, model: string): TokenCounter;
  /** Validates the whole map first: an invalid map throws INVALID_ARGUMENT and the old one stays. */
  updateModelMap(modelMap: ModelMapSetting): void;
  /** Loads every encoder on this thread once; resolves when counting will no longer pay a load. */
  warmUp(): Promise<void>;
  readonly warm: boolean;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function createTokenizerRegistry(options: TokenizerRegistryOptions = {}): TokenizerRegistry {
  let modelMap: CompiledModelMap = compileModelMap(options.modelMap ?? {});
  let warming: Promise<void> | undefined;
  let warm = false;

  return {
    resolve(providerId, model) {
      return tokenCounter(
        lookupModelMap(modelMap, providerId, model) ?? builtinTokenizerFor(providerId, model),
      );
    },
    updateModelMap(setting) {
      modelMap = compileModelMap(setting);
    },
    warmUp() {
      warming ??= (async () => {
        for (const name of BPE_TOKENIZERS) {
          // Each load blocks for up to a few hundred ms; yielding between them keeps health checks answered.
          await nextTurn();
          bpeTextCounter(name);
        }
        warm = true;
      })();
      return warming;
    },
    get warm() {
      return warm;
    },
  };
}
