import type { ChatMessage, Usage } from "@heidrun/proto";

/** A provider and model Yggdrasil routes to. */
export interface Target {
  providerId: string;
  model: string;
  /** Its example price has a long-context tier (> 200k input tokens): some requests go above it. */
  longContext?: boolean;
  /** Prompt caching: `read` reports cached input, `read-write` also cache writes. */
  caching?: "read" | "read-write";
}

/**
 * The models of the example catalog (config/prices.example.json), weighted by how often Yggdrasil sends to
 * them; example-hosted has only a "*" price, so its model is priced by the provider default.
 */
export const TARGETS: readonly (Target & { weight: number })[] = [
  { providerId: "openai", model: "gpt-4o-mini", caching: "read", weight: 40 },
  { providerId: "openai", model: "gpt-4o", caching: "read", weight: 10 },
  { providerId: "anthropic", model: "claude-sonnet-4", longContext: true, caching: "read-write", weight: 15 },
  { providerId: "anthropic", model: "claude-haiku-3.5", caching: "read-write", weight: 15 },
  { providerId: "google", model: "gemini-2.5-pro", longContext: true, weight: 10 },
  { providerId: "example-hosted", model: "meta-llama/Llama-3.1-8B-Instruct", weight: 10 },
];

/** A model without a price (openai has no "*" default): its usage settles as FAILED. */
export const UNPRICED_TARGET: Target = { providerId: "openai", model: "gpt-sim-unpriced" };

export function targetKey(target: Pick<Target, "providerId" | "model">): string {
  return `${target.providerId}/${target.model}`;
}

/** How the prompt of a pre-authorization is described: counted by the caller, or text Heidrun counts. */
export type PreAuthAsk =
  | { estimatedInputTokens: bigint }
  | { promptText: string }
  | { messages: ChatMessage[] };

export interface AuthorizeStep {
  requestId: string;
  accountId: string;
  target: Target;
  ask: PreAuthAsk;
  maxOutputTokens: bigint;
  /** 0: the server's default. */
  ttlSeconds: number;
  /** Sent twice with the same request_id (a client retry): the second answer must equal the first. */
  repeat: boolean;
}

export type PreAuthEnding =
  | { type: "capture"; requestId: string; usage: Usage; repeat: boolean }
  | {
      type: "cancel";
      requestId: string;
      reason: string;
      repeat: boolean;
      /** A capture after the cancel, which must be refused with FAILED_PRECONDITION. */
      lateCapture?: { requestId: string; usage: Usage };
    }
  /** Never captured: the hold lapses after its short ttl. */
  | { type: "expire" }
  /** The pre-authorization is expected to be declined or refused; nothing follows. */
  | { type: "none" };

export interface PreAuthFlow {
  kind: "preauth";
  index: number;
  /** What Heidrun should answer: a hold, a decline, or NOT_FOUND for a model without a price. */
  intent: "hold" | "overdraw" | "unknown-account" | "unpriced";
  authorize: AuthorizeStep;
  ending: PreAuthEnding;
}

export interface TrackItem {
  requestId: string;
  accountId: string;
  target: Target;
  usage: Usage;
}

export interface TrackFlow {
  kind: "track";
  index: number;
  item: TrackItem;
  repeat: boolean;
  /** The same request_id again with other usage: ALREADY_EXISTS, and the first usage stands. */
  conflict?: Usage;
}

export interface BatchFlow {
  kind: "batch";
  index: number;
  items: TrackItem[];
}

export interface CreditFlow {
  kind: "credit";
  index: number;
  requestId: string;
  accountId: string;
  amountMicros: bigint;
  repeat: boolean;
  /** The initial funding of an account, done before any other flow. */
  setup: boolean;
}

export type Flow = PreAuthFlow | TrackFlow | BatchFlow | CreditFlow;

/** How many gRPC calls a flow makes when every answer is the expected one. */
export function callsOf(flow: Flow): number {
  switch (flow.kind) {
    case "credit":
      return flow.repeat ? 2 : 1;
    case "batch":
      return 1;
    case "track":
      return 1 + (flow.repeat ? 1 : 0) + (flow.conflict ? 1 : 0);
    case "preauth": {
      const authorize = flow.authorize.repeat ? 2 : 1;
      const ending = flow.ending;
      if (ending.type === "capture") return authorize + (ending.repeat ? 2 : 1);
      if (ending.type === "cancel") return authorize + (ending.repeat ? 2 : 1) + (ending.lateCapture ? 1 : 0);
      return authorize;
    }
  }
}

/** A flow as one JSON line (bigints as decimal strings), for --dry-run. */
export function flowToJson(flow: Flow): string {
  return JSON.stringify(flow, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
}
