import { compilePrice, DomainError } from "@heidrun/core";
import type { PricedVersion } from "./prices";

interface Entry {
  price: PricedVersion;
  fromMs: number;
}

/** Orders a key's versions by effective_from, then version: the last one not after `at` is in effect. */
function before(a: Entry, b: Entry): boolean {
  return a.fromMs < b.fromMs || (a.fromMs === b.fromMs && a.price.version < b.price.version);
}

/** The index of the last entry with fromMs ≤ atMs, or -1. */
function lastNotAfter(entries: readonly Entry[], atMs: number): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (entries[mid]!.fromMs <= atMs) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}

/**
 * Every price version in memory, per provider and model, sorted by when it takes effect, so finding the version
 * in effect is a binary search. Each version is compiled when added, so pricing with it does no more work.
 */
export class PriceIndex {
  readonly #byProvider = new Map<string, Map<string, Entry[]>>();
  readonly #ids = new Set<bigint>();
  #maxId = 0n;

  constructor(prices: Iterable<PricedVersion> = []) {
    for (const price of prices) this.add(price);
  }

  get size(): number {
    return this.#ids.size;
  }

  /** The highest row id held. */
  get maxId(): bigint {
    return this.#maxId;
  }

  has(id: bigint): boolean {
    return this.#ids.has(id);
  }

  /** Adds a version (once per id); returns false when it was already there. Throws if the price is invalid. */
  add(price: PricedVersion): boolean {
    if (this.#ids.has(price.id)) return false;
    compilePrice(price);
    let models = this.#byProvider.get(price.providerId);
    if (models === undefined) {
      models = new Map();
      this.#byProvider.set(price.providerId, models);
    }
    let entries = models.get(price.model);
    if (entries === undefined) {
      entries = [];
      models.set(price.model, entries);
    }
    const entry = { price, fromMs: price.effectiveFrom.getTime() };
    let at = entries.length;
    // Versions mostly arrive in order, so the insertion point is almost always the end.
    while (at > 0 && before(entry, entries[at - 1]!)) at--;
    entries.splice(at, 0, entry);
    this.#ids.add(price.id);
    if (price.id > this.#maxId) this.#maxId = price.id;
    return true;
  }

  /** The version of exactly this provider and model in effect at `at`, without the "*" fallback. */
  find(providerId: string, model: string, at: Date): PricedVersion | undefined {
    const entries = this.#byProvider.get(providerId)?.get(model);
    if (entries === undefined) return undefined;
    return entries[lastNotAfter(entries, at.getTime())]?.price;
  }

  /** The version that prices a usage of `model` at `at`: the model's own, else the provider's "*". */
  lookup(providerId: string, model: string, at: Date): PricedVersion | undefined {
    return this.find(providerId, model, at) ?? (model === "*" ? undefined : this.find(providerId, "*", at));
  }

  resolve(providerId: string, model: string, at: Date): PricedVersion {
    const price = this.lookup(providerId, model, at);
    if (price === undefined) {
      throw DomainError.notFound(
        `no price for provider ${providerId} and model ${model} (nor a "*" default) at ${at.toISOString()}`,
      );
    }
    return price;
  }

  byVersion(providerId: string, model: string, version: bigint): PricedVersion | undefined {
    return this.#byProvider
      .get(providerId)
      ?.get(model)
      ?.find((entry) => entry.price.version === version)?.price;
  }

  /** Each model's version in effect at `at`, of one provider or all, ordered by provider and model. */
  inEffect(at: Date, providerId?: string): PricedVersion[] {
    const providers = providerId === undefined ? [...this.#byProvider.keys()].sort() : [providerId];
    const prices: PricedVersion[] = [];
    for (const provider of providers) {
      const models = this.#byProvider.get(provider);
      if (models === undefined) continue;
      for (const model of [...models.keys()].sort()) {
        const price = this.find(provider, model, at);
        if (price !== undefined) prices.push(price);
      }
    }
    return prices;
  }

  all(): PricedVersion[] {
    const prices: PricedVersion[] = [];
    for (const models of this.#byProvider.values()) {
      for (const entries of models.values()) for (const entry of entries) prices.push(entry.price);
    }
    return prices.sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}
