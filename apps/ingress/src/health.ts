import { EventEmitter } from "node:events";
import type { Logger } from "@heidrun/observability";
import type { HealthImplementation } from "grpc-health-check";

/** A live check of one dependency: resolves when it answers. */
export interface HealthProbe {
  name: string;
  check: () => Promise<unknown>;
}

export interface HealthMonitorOptions {
  health: HealthImplementation;
  /** Service names to report on besides "" (the whole server). */
  services: readonly string[];
  probes: readonly HealthProbe[];
  /** Read before every round, so a settings reload applies. */
  intervalMs: () => number;
  log: Logger;
}

export interface HealthMonitorEvents {
  change: [serving: boolean];
}

/** A probe that has not answered by then counts as down; never shorter than 1 s, so a busy host is not "down". */
export function probeTimeoutMs(intervalMs: number): number {
  return Math.max(intervalMs, 1000);
}

function withTimeout<T>(promise: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Reports SERVING for "" and every service while every probe answers, NOT_SERVING while any does not.
 * Probes run one round at a time (never overlapping), each bounded by probeTimeoutMs.
 */
export class HealthMonitor extends EventEmitter<HealthMonitorEvents> {
  #options: HealthMonitorOptions;
  #serving: boolean | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: HealthMonitorOptions) {
    super();
    this.#options = options;
  }

  get serving(): boolean {
    return this.#serving === true;
  }

  /** Runs one round now and then every interval until stop(). */
  start(): Promise<boolean> {
    this.#running = true;
    return this.#round();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  /** Used by shutdown: report NOT_SERVING so balancers stop sending calls here. */
  setAll(serving: boolean): void {
    // Watchers get a message per setStatus, and the health protocol promises them changes only.
    if (this.#serving === serving) return;
    const value = serving ? "SERVING" : "NOT_SERVING";
    for (const service of ["", ...this.#options.services]) this.#options.health.setStatus(service, value);
    this.#serving = serving;
    this.emit("change", serving);
  }

  async checkOnce(): Promise<boolean> {
    const timeoutMs = probeTimeoutMs(this.#options.intervalMs());
    const results = await Promise.allSettled(
      this.#options.probes.map((probe) => withTimeout(probe.check(), timeoutMs, probe.name)),
    );
    const failures = results.flatMap((result, index) =>
      result.status === "rejected"
        ? [{ probe: this.#options.probes[index]!.name, reason: result.reason }]
        : [],
    );
    const serving = failures.length === 0;
    if (serving !== this.#serving) {
      if (serving) this.#options.log.info("health: SERVING, every dependency answers");
      else {
        const reasons = failures.map(
          (f) => `${f.probe}: ${(f.reason as Error)?.message ?? String(f.reason)}`,
        );
        this.#options.log.warn({ failures: reasons }, "health: NOT_SERVING");
      }
    }
    return serving;
  }

  async #round(): Promise<boolean> {
    const serving = await this.checkOnce();
    if (!this.#running) return serving;
    this.setAll(serving);
    this.#timer = setTimeout(() => void this.#round(), this.#options.intervalMs());
    this.#timer.unref();
    return serving;
  }
}
