import {
  type CommissionSettings,
  calculateCost,
  estimatePreAuth,
  type PriceVersion,
  resolveCommissionBps,
  splitCommission,
  type Usage,
} from "@heidrun/core";
import type {
  CancelPreAuthRequest,
  CapturePreAuthRequest,
  CapturePreAuthResponse,
  CreditAccountRequest,
  PreAuthorizeRequest,
  PreAuthorizeResponse,
  TrackTokensBatchRequest,
  TrackTokensRequest,
} from "@heidrun/proto";
import type { CallRecord } from "./client";

export interface ModelSettings {
  commission: CommissionSettings;
  roundingIncrementMicros: bigint;
}

interface Hold {
  accountId: string;
  providerId: string;
  model: string;
  estimate: bigint;
  priceVersion: bigint;
  expiresAt: Date;
}

/** Where the model and the database disagree, one line each. */
export type ModelDiff = string[];

/**
 * What the balances must be if exactly the acknowledged operations happened, each once: a replay of the call
 * log through the pricing formula and the commission split, knowing nothing of the database.
 */
export class LedgerModel {
  readonly balances = new Map<string, bigint>();
  readonly held = new Map<string, bigint>();
  readonly providerEarnings = new Map<string, bigint>();
  platformFees = 0n;
  /** Differences found while replaying (an answer that contradicts the formula). */
  readonly problems: string[] = [];
  readonly #applied = new Set<string>();
  readonly #holds = new Map<string, Hold>();
  readonly #closed = new Set<string>();

  constructor(
    readonly prices: readonly PriceVersion[],
    readonly settings: ModelSettings,
  ) {}

  /**
   * Applies every acknowledged call. `now`: holds whose expiry is more than `graceMs` behind it must have
   * expired (the contract gives the sweeper 5 s); the caller makes sure none is within the grace window.
   */
  replay(records: readonly CallRecord[], now: Date, graceMs = 5000): this {
    const ok = records.filter((r) => r.outcome === "ok").sort((a, b) => a.seq - b.seq);
    for (const record of ok) this.#apply(record);
    for (const [preauthId, hold] of this.#holds) {
      if (this.#closed.has(preauthId)) continue;
      if (hold.expiresAt.getTime() + graceMs < now.getTime()) continue;
      if (hold.expiresAt.getTime() <= now.getTime()) {
        this.problems.push(`pre-auth ${preauthId} expires within the grace window: check later`);
      }
      this.#add(this.held, hold.accountId, hold.estimate);
    }
    return this;
  }

  #price(providerId: string, model: string, version?: bigint): PriceVersion {
    const price = this.prices.find(
      (p) =>
        p.providerId === providerId && p.model === model && (version === undefined || p.version === version),
    );
    if (!price) throw new Error(`the model knows no price for ${providerId}/${model} v${version ?? "any"}`);
    return price;
  }

  #add(map: Map<string, bigint>, key: string, amount: bigint): void {
    map.set(key, (map.get(key) ?? 0n) + amount);
  }

  /** Charges a usage once per request id: balance down by the total, the split to provider and platform. */
  #charge(requestId: string, accountId: string, price: PriceVersion, usage: Usage): bigint {
    if (this.#applied.has(requestId)) return 0n;
    this.#applied.add(requestId);
    const total = calculateCost(usage, price, this.settings.roundingIncrementMicros).totalCostMicros;
    const split = splitCommission(total, resolveCommissionBps(price.providerId, this.settings.commission));
    this.#add(this.balances, accountId, -total);
    this.#add(this.providerEarnings, price.providerId, split.providerEarningsMicros);
    this.platformFees += split.companyFeeMicros;
    return total;
  }

  #apply(record: CallRecord): void {
    switch (record.method) {
      case "CreditAccount": {
        const request = record.request as CreditAccountRequest;
        if (this.#applied.has(request.requestId)) return;
        this.#applied.add(request.requestId);
        this.#add(this.balances, request.accountId, request.amountMicros);
        return;
      }
      case "TrackTokens":
      case "TrackTokensBatch": {
        const items =
          record.method === "TrackTokens"
            ? [record.request as TrackTokensRequest]
            : (record.request as TrackTokensBatchRequest).items;
        for (const item of items) {
          this.#charge(item.requestId, item.accountId, this.#price(item.providerId, item.model), item.usage!);
        }
        return;
      }
      case "PreAuthorize": {
        const request = record.request as PreAuthorizeRequest;
        const response = record.response as PreAuthorizeResponse;
        if (!response.authorized || this.#holds.has(response.preauthId)) return;
        const price = this.#price(request.providerId, request.model, response.priceVersion);
        const estimate = estimatePreAuth(
          request.estimatedInputTokens,
          request.maxOutputTokens,
          price,
          this.settings.roundingIncrementMicros,
        ).totalCostMicros;
        if (estimate !== response.estimatedCostMicros) {
          this.problems.push(
            `${request.requestId}: estimate ${response.estimatedCostMicros}, the formula says ${estimate}`,
          );
        }
        this.#holds.set(response.preauthId, {
          accountId: request.accountId,
          providerId: request.providerId,
          model: request.model,
          estimate,
          priceVersion: response.priceVersion,
          expiresAt: response.expiresAt!,
        });
        return;
      }
      case "CapturePreAuth": {
        const request = record.request as CapturePreAuthRequest;
        const response = record.response as CapturePreAuthResponse;
        const hold = this.#holds.get(request.preauthId);
        if (!hold) {
          this.problems.push(
            `${request.requestId}: captured ${request.preauthId}, which the log never authorized`,
          );
          return;
        }
        this.#closed.add(request.preauthId);
        const price = this.#price(hold.providerId, hold.model, hold.priceVersion);
        const total = calculateCost(
          request.usage!,
          price,
          this.settings.roundingIncrementMicros,
        ).totalCostMicros;
        if (total !== response.capturedCostMicros) {
          this.problems.push(
            `${request.requestId}: captured ${response.capturedCostMicros}, the formula says ${total}`,
          );
        }
        this.#charge(request.requestId, hold.accountId, price, request.usage!);
        return;
      }
      case "CancelPreAuth": {
        this.#closed.add((record.request as CancelPreAuthRequest).preauthId);
        return;
      }
    }
  }
}
