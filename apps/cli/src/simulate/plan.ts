import type { ChatMessage, Usage } from "@heidrun/proto";
import {
  type AuthorizeStep,
  type BatchFlow,
  type CreditFlow,
  callsOf,
  type Flow,
  type PreAuthFlow,
  TARGETS,
  type Target,
  type TrackFlow,
  type TrackItem,
  UNPRICED_TARGET,
} from "./flows";
import { Prng } from "./prng";

export interface PlanOptions {
  seed: number;
  /** Part of every account and request id, so runs against one database keep separate books. */
  runId: string;
  accounts: number;
  /** Stop once this many calls are planned; unset: an endless plan (the caller stops by time). */
  count?: number;
}

/** The initial funding of each account: far above what a simulated minute spends. */
export const SETUP_CREDIT_MICROS = 200_000_000n;

/** Share of each kind of flow, in percent. */
const MIX = {
  capture: 36,
  textCapture: 10,
  cancel: 8,
  expire: 4,
  overdraw: 2,
  unknownAccount: 1,
  unpriced: 1,
  track: 20,
  trackUnpriced: 4,
  batch: 8,
  credit: 4,
  conflict: 2,
} as const;

export function accountId(runId: string, index: number): string {
  return `sim-${runId}-a${index}`;
}

const WORDS = (
  "the a of to and in for on with model token price request answer stream cache prompt user assistant " +
  "summarize translate explain compare list write code test review plan data table chart report email " +
  "yggdrasil heidrun provider consumer market invoice ledger balance account hold capture settle quickly " +
  "carefully briefly in detail please then again because however therefore example"
).split(" ");

function sentence(prng: Prng, words: number): string {
  return Array.from({ length: words }, () => prng.pick(WORDS)).join(" ");
}

function pickTarget(prng: Prng): Target {
  const weights = Object.fromEntries(TARGETS.map((t, i) => [String(i), t.weight]));
  const { weight: _weight, ...target } = TARGETS[Number(prng.weighted(weights))]!;
  return target;
}

/** What the request really used: mostly as estimated, sometimes less, sometimes more output than the cap. */
function actualUsage(prng: Prng, target: Target, input: number, maxOutput: number): Usage {
  const inputTokens = prng.chance(0.7) ? input : prng.int(Math.max(1, Math.floor(input * 0.8)), input + 50);
  const outputTokens = prng.chance(0.75)
    ? prng.int(0, maxOutput)
    : prng.int(maxOutput + 1, Math.floor(maxOutput * 1.5) + 1);
  const cached = target.caching && prng.chance(0.3) ? prng.int(0, Math.floor(inputTokens * 0.8)) : 0;
  const written =
    target.caching === "read-write" && prng.chance(0.15) ? prng.int(0, inputTokens - cached) : 0;
  return {
    inputTokens: BigInt(inputTokens),
    outputTokens: BigInt(outputTokens),
    cachedInputTokens: BigInt(cached),
    cacheWriteTokens: BigInt(written),
  };
}

function inputSize(prng: Prng, target: Target): number {
  return target.longContext && prng.chance(0.05) ? prng.int(200_001, 240_000) : prng.int(20, 16_000);
}

function messages(prng: Prng): ChatMessage[] {
  const list: ChatMessage[] = [{ role: "system", content: sentence(prng, prng.int(5, 40)), name: "" }];
  for (let turn = prng.int(1, 3); turn > 0; turn--) {
    list.push({ role: "user", content: sentence(prng, prng.int(3, 120)), name: "" });
    if (turn > 1) list.push({ role: "assistant", content: sentence(prng, prng.int(3, 80)), name: "" });
  }
  return list;
}

class Planner {
  readonly #prng: Prng;
  readonly #o: PlanOptions;

  constructor(options: PlanOptions) {
    this.#o = options;
    this.#prng = new Prng(options.seed);
  }

  #id(index: number, step: string): string {
    return `sim-${this.#o.runId}-${index}-${step}`;
  }

  #account(): string {
    return accountId(this.#o.runId, this.#prng.int(0, this.#o.accounts - 1));
  }

  credit(index: number, account: string, setup: boolean): CreditFlow {
    const p = this.#prng;
    return {
      kind: "credit",
      index,
      requestId: this.#id(index, "credit"),
      accountId: account,
      amountMicros: setup ? SETUP_CREDIT_MICROS : BigInt(p.int(5, 50)) * 1_000_000n,
      repeat: !setup && p.chance(0.3),
      setup,
    };
  }

  trackItem(index: number, step: string, unpriced: boolean): TrackItem {
    const p = this.#prng;
    const target = unpriced ? UNPRICED_TARGET : pickTarget(p);
    const input = inputSize(p, target);
    return {
      requestId: this.#id(index, step),
      accountId: this.#account(),
      target,
      usage: actualUsage(p, target, input, p.int(16, 4096)),
    };
  }

  track(index: number, unpriced: boolean, conflict: boolean): TrackFlow {
    const item = this.trackItem(index, "track", unpriced);
    const flow: TrackFlow = { kind: "track", index, item, repeat: !conflict && this.#prng.chance(0.15) };
    if (conflict) flow.conflict = { ...item.usage, outputTokens: item.usage.outputTokens + 1n };
    return flow;
  }

  batch(index: number): BatchFlow {
    const size = this.#prng.int(2, 25);
    const items = Array.from({ length: size }, (_, k) =>
      this.trackItem(index, `b${k}`, this.#prng.chance(0.05)),
    );
    return { kind: "batch", index, items };
  }

  preauth(index: number, kind: keyof typeof MIX): PreAuthFlow {
    const p = this.#prng;
    const target = kind === "unpriced" ? UNPRICED_TARGET : pickTarget(p);
    const input = inputSize(p, target);
    const maxOutput = p.int(16, 4096);
    const text = kind === "textCapture";
    const authorize: AuthorizeStep = {
      requestId: this.#id(index, "auth"),
      accountId: kind === "unknownAccount" ? `sim-${this.#o.runId}-ghost${index}` : this.#account(),
      target,
      ask: !text
        ? { estimatedInputTokens: BigInt(input) }
        : p.chance(0.5)
          ? { promptText: sentence(p, p.int(5, 400)) }
          : { messages: messages(p) },
      // An overdraw asks for more output than any account here could pay for.
      maxOutputTokens: kind === "overdraw" ? 100_000_000_000n : BigInt(maxOutput),
      ttlSeconds: kind === "expire" ? p.int(1, 2) : 0,
      repeat: p.chance(0.1),
    };
    const usage = () => actualUsage(p, target, text ? p.int(10, 900) : input, maxOutput);
    const base = { kind: "preauth" as const, index, authorize };
    switch (kind) {
      case "overdraw":
        return { ...base, intent: "overdraw", ending: { type: "none" } };
      case "unknownAccount":
        return { ...base, intent: "unknown-account", ending: { type: "none" } };
      case "unpriced":
        return { ...base, intent: "unpriced", ending: { type: "none" } };
      case "expire":
        return { ...base, intent: "hold", ending: { type: "expire" } };
      case "cancel": {
        const late = p.chance(0.2);
        return {
          ...base,
          intent: "hold",
          ending: {
            type: "cancel",
            requestId: this.#id(index, "cancel"),
            reason: p.pick(["client disconnected", "provider unavailable", "user aborted"]),
            repeat: p.chance(0.15),
            ...(late ? { lateCapture: { requestId: this.#id(index, "late"), usage: usage() } } : {}),
          },
        };
      }
      default:
        return {
          ...base,
          intent: "hold",
          ending: {
            type: "capture",
            requestId: this.#id(index, "capture"),
            usage: usage(),
            repeat: p.chance(0.15),
          },
        };
    }
  }

  next(index: number): Flow {
    const kind = this.#prng.weighted(MIX);
    switch (kind) {
      case "track":
      case "trackUnpriced":
      case "conflict":
        return this.track(index, kind === "trackUnpriced", kind === "conflict");
      case "batch":
        return this.batch(index);
      case "credit":
        return this.credit(index, this.#account(), false);
      default:
        return this.preauth(index, kind);
    }
  }
}

/**
 * The simulator's calls, decided by the seed alone: first a funding credit per account, then a weighted mix
 * of flows. With `count`, the plan ends when that many calls are planned (the last flow shrinks to one
 * TrackTokens call when a longer one would overshoot). Request ids are `sim-<runId>-<flow index>-<step>`.
 */
export function* planFlows(options: PlanOptions): Generator<Flow> {
  const planner = new Planner(options);
  const limit = options.count ?? Number.POSITIVE_INFINITY;
  let calls = 0;
  let index = 0;
  for (let a = 0; a < options.accounts && calls < limit; a++, index++, calls++) {
    yield planner.credit(index, accountId(options.runId, a), true);
  }
  for (; calls < limit; index++) {
    let flow = planner.next(index);
    if (callsOf(flow) > limit - calls) flow = planner.track(index, false, false);
    if (flow.kind === "track") flow.repeat = flow.repeat && calls + 2 <= limit;
    calls += callsOf(flow);
    yield flow;
  }
}
