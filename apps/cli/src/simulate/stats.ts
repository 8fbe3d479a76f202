import type { status } from "@grpc/grpc-js";
import { statusName } from "./client";

/** Latency buckets grow by 2 %: percentiles are exact to that, in constant memory however long the run. */
const GROWTH = Math.log(1.02);
const FLOOR_MS = 0.01;

class LatencyHistogram {
  readonly #buckets = new Map<number, number>();
  count = 0;

  add(ms: number): void {
    const bucket = Math.max(0, Math.ceil(Math.log(Math.max(ms, FLOOR_MS) / FLOOR_MS) / GROWTH));
    this.#buckets.set(bucket, (this.#buckets.get(bucket) ?? 0) + 1);
    this.count++;
  }

  /** The latency below which a share `q` of the calls finished (the bucket's upper bound). */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (const bucket of [...this.#buckets.keys()].sort((a, b) => a - b)) {
      seen += this.#buckets.get(bucket)!;
      if (seen >= rank) return FLOOR_MS * Math.exp(bucket * GROWTH);
    }
    return 0;
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function formatCounts(map: Map<string, number>): string {
  return [...map.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => `${key} ${n}`)
    .join(", ");
}

function ms(value: number): string {
  return value < 10 ? `${value.toFixed(1)}ms` : `${Math.round(value)}ms`;
}

/** What the simulator saw: calls by status and method, business outcomes, latency. */
export class SimulationStats {
  readonly byStatus = new Map<string, number>();
  readonly byMethod = new Map<string, number>();
  readonly outcomes = new Map<string, number>();
  readonly #latency = new LatencyHistogram();
  readonly #started = performance.now();
  #windowStart = performance.now();
  #windowCalls = 0;
  #lastRate = 0;

  readonly onCall = (method: string, code: status, latencyMs: number): void => {
    increment(this.byStatus, statusName(code));
    increment(this.byMethod, method);
    this.#latency.add(latencyMs);
    this.#windowCalls++;
  };

  readonly outcome = (name: string): void => {
    increment(this.outcomes, name);
  };

  get calls(): number {
    return this.#latency.count;
  }

  elapsedSeconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /** One line for a terminal, redrawn in place: calls/s over the last window, statuses, p50/p99. */
  liveLine(): string {
    const now = performance.now();
    const window = (now - this.#windowStart) / 1000;
    if (window >= 1) {
      this.#lastRate = this.#windowCalls / window;
      this.#windowStart = now;
      this.#windowCalls = 0;
    }
    return (
      `${this.elapsedSeconds().toFixed(0)}s  ${this.calls} calls  ${this.#lastRate.toFixed(1)}/s  ` +
      `[${formatCounts(this.byStatus)}]  p50 ${ms(this.#latency.percentile(0.5))}  p99 ${ms(this.#latency.percentile(0.99))}`
    );
  }

  summary(): string[] {
    const seconds = this.elapsedSeconds();
    return [
      `calls      ${this.calls} in ${seconds.toFixed(1)} s (${(this.calls / Math.max(seconds, 0.001)).toFixed(1)} calls/s)`,
      `latency    p50 ${ms(this.#latency.percentile(0.5))}, p99 ${ms(this.#latency.percentile(0.99))}`,
      `statuses   ${formatCounts(this.byStatus)}`,
      `methods    ${formatCounts(this.byMethod)}`,
      `outcomes   ${formatCounts(this.outcomes)}`,
    ];
  }
}
