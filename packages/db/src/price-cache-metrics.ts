import { Gauge, type Registry } from "@heidrun/observability";

/** What the gauges read, at scrape time. */
export interface PriceCacheState {
  readonly lastFullLoadAt: Date | undefined;
  readonly pubsubUp: boolean;
  readonly size: number;
}

/** Registers the price cache's gauges; a registry holds one price cache's (the names are fixed). */
export function registerPriceCacheMetrics(registry: Registry, cache: PriceCacheState): void {
  new Gauge({
    name: "heidrun_price_cache_age_seconds",
    help: "Seconds since the price cache last reloaded every version from Postgres (-1: never)",
    registers: [registry],
    collect() {
      const last = cache.lastFullLoadAt;
      this.set(last === undefined ? -1 : (Date.now() - last.getTime()) / 1000);
    },
  });
  new Gauge({
    name: "heidrun_price_cache_pubsub_up",
    help: "1 while the price cache hears price changes through Redis pub/sub, else 0 (periodic refresh only)",
    registers: [registry],
    collect() {
      this.set(cache.pubsubUp ? 1 : 0);
    },
  });
  new Gauge({
    name: "heidrun_price_cache_versions",
    help: "Price versions held by the price cache",
    registers: [registry],
    collect() {
      this.set(cache.size);
    },
  });
}
