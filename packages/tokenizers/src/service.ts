import { DomainError } from "@heidrun/core";
import { chatFramingTokens, chatTexts } from "./chat-format";
import { CountWorkerPool } from "./pool";
import type { TokenizerRegistry } from "./registry";
import type { ChatMessage, TokenCountResult } from "./types";

export interface TokenCountingOptions {
  /** Inputs above this many UTF-8 bytes are counted in the worker pool. Default 65536. */
  offThreadThresholdBytes?: number;
  /** Worker threads in the pool. Default 1. */
  poolSize?: number;
  /** Big inputs waiting for a worker beyond this are refused (RESOURCE_EXHAUSTED). Default 64. */
  maxQueuedTasks?: number;
}

export interface CountTokensRequest {
  providerId: string;
  model: string;
  /** Exactly one of text and messages. */
  text?: string;
  messages?: readonly ChatMessage[];
}

export interface TokenCountingStats {
  offThreadTasks: number;
  inlineTasks: number;
  queuedTasks: number;
}

/** UTF-8 length is between 1 and 3 bytes per UTF-16 code unit; only the ambiguous middle pays for a scan. */
function exceedsUtf8Bytes(texts: readonly string[], threshold: number): boolean {
  let codeUnits = 0;
  for (const text of texts) codeUnits += text.length;
  if (codeUnits > threshold) return true;
  if (codeUnits * 3 <= threshold) return false;
  let bytes = 0;
  for (const text of texts) {
    bytes += Buffer.byteLength(text, "utf8");
    if (bytes > threshold) return true;
  }
  return false;
}

/**
 * Counting for the CountTokens RPC. Small inputs are counted on the calling thread (a worker round trip
 * would cost more than the count); big ones go to a worker pool so a multi-megabyte prompt never stalls the
 * event loop. The estimate is always inline: it is one native byte-length call, cheaper than the copy to
 * a worker.
 */
export class TokenCountingService {
  private readonly pool: CountWorkerPool;
  private readonly thresholdBytes: number;
  private inlineTasks = 0;

  constructor(
    private readonly registry: TokenizerRegistry,
    options: TokenCountingOptions = {},
  ) {
    this.thresholdBytes = options.offThreadThresholdBytes ?? 65_536;
    if (!Number.isInteger(this.thresholdBytes) || this.thresholdBytes < 0) {
      throw DomainError.invalid("tokenizers.offThreadThresholdBytes", "must be a non-negative integer");
    }
    this.pool = new CountWorkerPool({ size: options.poolSize ?? 1, maxQueued: options.maxQueuedTasks ?? 64 });
  }

  /** Loads the encoders here and in every worker; health can report ready once this resolves. */
  async warmUp(): Promise<void> {
    await Promise.all([this.registry.warmUp(), this.pool.warmUp()]);
  }

  async countTokens(request: CountTokensRequest): Promise<TokenCountResult> {
    const { text, messages } = request;
    if (text !== undefined && messages !== undefined) {
      throw DomainError.invalid("messages", "give either text or messages, not both");
    }
    if (text === undefined && messages === undefined)
      throw DomainError.invalid("text", "text or messages is required");

    const counter = this.registry.resolve(request.providerId, request.model);
    const result = (tokens: bigint): TokenCountResult => ({
      tokens,
      tokenizer: counter.name,
      exact: counter.exact,
    });

    const texts = text !== undefined ? [text] : chatTexts(messages ?? []);
    if (counter.name !== "estimate" && exceedsUtf8Bytes(texts, this.thresholdBytes)) {
      const counted = await this.pool.count(counter.name, texts);
      const framing = text !== undefined ? 0n : chatFramingTokens(messages ?? []);
      return result(BigInt(counted.tokens) + framing);
    }
    this.inlineTasks++;
    return result(text !== undefined ? counter.countText(text) : counter.countMessages(messages ?? []));
  }

  stats(): TokenCountingStats {
    const pool = this.pool.stats();
    return { offThreadTasks: pool.completed, inlineTasks: this.inlineTasks, queuedTasks: pool.queued };
  }

  /** Stops the workers; big counts still waiting fail with UNAVAILABLE. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
