import { EventEmitter } from "node:events";
import { type CostBreakdown, calculateCost, type Usage } from "@heidrun/core";
import type { Registry } from "@heidrun/observability";
import type { QueueConnection } from "@heidrun/queue";
import type { Redis } from "ioredis";
import type { DbOrTx } from "./pool";
import { PriceIndex } from "./price-cache-index";
import { registerPriceCacheMetrics } from "./price-cache-metrics";
import { loadPriceVersions, type PricedVersion } from "./prices";

export { PriceIndex } from "./price-cache-index";

/** The pub/sub channel on which writers announce new price versions. */
export function priceChannel(queuePrefix: string): string {
  return `${queuePrefix}:prices`;
}

/**
 * Tells every price cache that versions were added (their ids, so a cache also finds a row that committed
 * after a higher id). Best effort: a lost message is caught up by the next refresh.
 */
export async function publishPriceChange(
  publisher: Pick<Redis, "publish">,
  channel: string,
  ids: readonly bigint[],
) {
  await publisher.publish(channel, ids.join(","));
}

export interface PriceCacheOptions {
  db: DbOrTx;
  /** `priceChannel(settings.queue.prefix)`. */
  channel: string;
  /**
   * A connection of the cache's own for SUBSCRIBE (`connectRedis(config, "subscriber")`: one Redis or a Cluster);
   * never closed by the cache.
   */
  subscriber?: QueueConnection;
  /** The full reload period (settings.priceCache.refreshIntervalMs); a function so a settings reload applies. */
  refreshIntervalMs: number | (() => number);
  /** Where the cache's gauges are registered; one cache per registry. */
  registry?: Registry;
  /** How long start() waits for the subscription before carrying on without it (the refresh still converges). */
  subscribeTimeoutMs?: number;
}

export type PriceCacheLoadReason = "start" | "refresh" | "message" | "resubscribe";

export interface PriceCacheLoad {
  kind: "full" | "incremental";
  reason: PriceCacheLoadReason;
  /** Versions this load added that the cache did not hold before. */
  added: PricedVersion[];
  /** Versions held afterwards. */
  size: number;
}

interface PriceCacheEvents {
  loaded: [load: PriceCacheLoad];
  /** A load or the subscription failed; the cache keeps answering from what it holds. */
  failed: [error: unknown, during: string];
  pubsub: [up: boolean];
}

/**
 * Every price version in memory: quotes never touch the database. Kept current by pub/sub messages (new ids,
 * loaded incrementally) and a periodic full reload as the safety net when pub/sub is down.
 */
export class PriceCache extends EventEmitter<PriceCacheEvents> {
  readonly channel: string;
  readonly #options: PriceCacheOptions;
  #index = new PriceIndex();
  /** Added locally since the last full reload began: kept across a reload whose snapshot predates them. */
  #localAdds = new Map<bigint, PricedVersion>();
  #chain: Promise<unknown> = Promise.resolve();
  #pendingIds = new Set<bigint>();
  #incrementalQueued = false;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #pubsubUp = false;
  #lastFullLoadMs: number | undefined;
  readonly #onMessage = (channel: string, message: string) => {
    if (channel === this.channel) this.#queueIncremental(parseIds(message), "message");
  };
  /** Set when the subscriber's connection drops; its next "ready" is a reconnect that may have missed messages. */
  #disconnected = false;
  readonly #onReady = () => {
    if (this.#disconnected) void this.#resubscribe();
  };
  readonly #onClose = () => {
    this.#disconnected = true;
    this.#setPubsub(false);
  };

  constructor(options: PriceCacheOptions) {
    super();
    this.#options = options;
    this.channel = options.channel;
    if (options.registry) registerPriceCacheMetrics(options.registry, this);
  }

  get size(): number {
    return this.#index.size;
  }

  get pubsubUp(): boolean {
    return this.#pubsubUp;
  }

  /** When every version was last reloaded from Postgres (start or refresh). */
  get lastFullLoadAt(): Date | undefined {
    return this.#lastFullLoadMs === undefined ? undefined : new Date(this.#lastFullLoadMs);
  }

  /** Subscribes (waiting at most subscribeTimeoutMs), loads every version, and starts the refresh timer. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const subscriber = this.#options.subscriber;
    if (subscriber) {
      subscriber.on("message", this.#onMessage);
      subscriber.on("ready", this.#onReady);
      subscriber.on("close", this.#onClose);
      // Subscribed before the first load, so no version can fall between the two.
      await this.#subscribe(this.#options.subscribeTimeoutMs ?? 2000);
    }
    await this.#enqueue(() => this.#loadFull("start"));
    this.#scheduleRefresh();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    const subscriber = this.#options.subscriber;
    if (subscriber) {
      subscriber.off("message", this.#onMessage);
      subscriber.off("ready", this.#onReady);
      subscriber.off("close", this.#onClose);
      if (subscriber.status === "ready") await subscriber.unsubscribe(this.channel).catch(() => {});
      this.#setPubsub(false);
    }
    await this.#chain.catch(() => {});
  }

  /** A full reload now (also what the timer does). */
  refresh(): Promise<void> {
    return this.#enqueue(() => this.#loadFull("refresh"));
  }

  /** Catches up with versions added since the last load (plus `ids`, which may be older rows). */
  catchUp(ids: readonly bigint[] = []): Promise<void> {
    return this.#queueIncremental(ids, "message");
  }

  /** Makes a version this process just wrote visible at once, without waiting for pub/sub. */
  add(price: PricedVersion): void {
    this.#localAdds.set(price.id, price);
    this.#index.add(price);
  }

  /** The version that prices a usage at `at`: the model's own, else "*"; NOT_FOUND naming provider and model. */
  resolve(providerId: string, model: string, at: Date): PricedVersion {
    return this.#index.resolve(providerId, model, at);
  }

  /** Like resolve, but undefined instead of NOT_FOUND. */
  lookup(providerId: string, model: string, at: Date): PricedVersion | undefined {
    return this.#index.lookup(providerId, model, at);
  }

  /** A pinned version (a pre-authorization's), by its key and version number. */
  byVersion(providerId: string, model: string, version: bigint): PricedVersion | undefined {
    return this.#index.byVersion(providerId, model, version);
  }

  /** Each model's version in effect at `at` (no fallback), ordered by provider and model. */
  inEffect(at: Date, providerId?: string): PricedVersion[] {
    return this.#index.inEffect(at, providerId);
  }

  /** The pricing formula with the version in effect at `at`. */
  quote(
    providerId: string,
    model: string,
    usage: Usage,
    at: Date,
    roundingIncrementMicros?: bigint,
  ): { price: PricedVersion; cost: CostBreakdown } {
    const price = this.#index.resolve(providerId, model, at);
    return { price, cost: calculateCost(usage, price, roundingIncrementMicros) };
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task, task);
    this.#chain = run.catch(() => {});
    return run;
  }

  #queueIncremental(ids: readonly bigint[], reason: PriceCacheLoadReason): Promise<void> {
    for (const id of ids) this.#pendingIds.add(id);
    if (this.#incrementalQueued) return this.#chain.then(() => {});
    this.#incrementalQueued = true;
    // A burst of messages becomes one query: the task takes every id that arrived before it ran.
    return this.#enqueue(async () => {
      this.#incrementalQueued = false;
      const wanted = [...this.#pendingIds].filter((id) => !this.#index.has(id));
      this.#pendingIds.clear();
      await this.#loadIncremental(wanted, reason);
    }).catch((error) => {
      this.emit("failed", error, `incremental load (${reason})`);
    });
  }

  async #loadFull(reason: PriceCacheLoadReason): Promise<void> {
    const localBefore = new Set(this.#localAdds.keys());
    const previous = this.#index;
    const prices = await loadPriceVersions(this.#options.db);
    const next = new PriceIndex();
    const added: PricedVersion[] = [];
    for (const price of prices) {
      next.add(price);
      if (!previous.has(price.id)) added.push(price);
    }
    for (const [id, price] of this.#localAdds) {
      next.add(price);
      if (localBefore.has(id)) this.#localAdds.delete(id);
    }
    this.#index = next;
    this.#lastFullLoadMs = Date.now();
    this.emit("loaded", { kind: "full", reason, added, size: next.size });
  }

  async #loadIncremental(ids: readonly bigint[], reason: PriceCacheLoadReason): Promise<void> {
    const prices = await loadPriceVersions(this.#options.db, { afterId: this.#index.maxId, ids });
    const added = prices.filter((price) => this.#index.add(price));
    this.emit("loaded", { kind: "incremental", reason, added, size: this.#index.size });
  }

  #scheduleRefresh(): void {
    if (!this.#running) return;
    const interval = this.#options.refreshIntervalMs;
    const ms = typeof interval === "function" ? interval() : interval;
    this.#timer = setTimeout(() => {
      this.refresh()
        .catch((error) => this.emit("failed", error, "refresh"))
        .finally(() => this.#scheduleRefresh());
    }, ms);
    this.#timer.unref();
  }

  async #subscribe(timeoutMs: number): Promise<void> {
    const subscriber = this.#options.subscriber;
    if (!subscriber) return;
    let timer: NodeJS.Timeout | undefined;
    const subscribed = subscriber.subscribe(this.channel).then(
      () => this.#running && this.#setPubsub(true),
      (error: unknown) => {
        this.#setPubsub(false);
        this.emit("failed", error, "subscribe");
      },
    );
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([subscribed, timeout]);
    clearTimeout(timer);
  }

  /** After a reconnect: subscribe again, then load what was announced while the channel was deaf. */
  async #resubscribe(): Promise<void> {
    if (!this.#running) return;
    this.#disconnected = false;
    await this.#subscribe(this.#options.subscribeTimeoutMs ?? 2000);
    if (this.#pubsubUp) await this.#queueIncremental([], "resubscribe");
  }

  #setPubsub(up: boolean): void {
    if (this.#pubsubUp === up) return;
    this.#pubsubUp = up;
    this.emit("pubsub", up);
  }
}

function parseIds(message: string): bigint[] {
  const ids: bigint[] = [];
  for (const part of message.split(",")) {
    if (/^[0-9]{1,19}$/.test(part)) ids.push(BigInt(part));
  }
  return ids;
}
