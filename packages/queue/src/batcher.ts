/** The answer for one item of a flushed batch: each item succeeds or fails on its own. */
export type BatchResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface BatcherOptions<I, R> {
  /** Read at every add, so a settings reload applies to the next batch. */
  maxSize: () => number;
  /** How long the first item of a batch waits for others before the batch is flushed anyway. */
  lingerMs: () => number;
  /** Writes a batch and answers every item, in order. A throw fails every item of the batch with that error. */
  flush: (items: readonly I[]) => Promise<readonly BatchResult<R>[]>;
}

interface Waiting<I, R> {
  item: I;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects items from many concurrent callers into batches of up to `maxSize` or `lingerMs`, whichever comes
 * first, flushes each batch once, and settles each caller's promise with that item's own result. Flushes may
 * overlap: a full batch goes out at once while the previous one is still being written.
 */
export class Batcher<I, R> {
  readonly #options: BatcherOptions<I, R>;
  #open: Waiting<I, R>[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  #draining = false;

  constructor(options: BatcherOptions<I, R>) {
    this.#options = options;
  }

  /** Items waiting in the open batch (not yet handed to `flush`). */
  get pending(): number {
    return this.#open.length;
  }

  /** Batches handed to `flush` whose results are not in yet. */
  get flushing(): number {
    return this.#inFlight.size;
  }

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#open.push({ item, resolve, reject });
      if (this.#draining || this.#open.length >= Math.max(1, this.#options.maxSize())) {
        this.flushNow();
      } else if (this.#timer === undefined) {
        this.#timer = setTimeout(() => this.flushNow(), this.#options.lingerMs());
      }
    });
  }

  /** Hands the open batch to `flush` now, without waiting for it to fill. */
  flushNow(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#open.length === 0) return;
    const batch = this.#open;
    this.#open = [];
    const done = this.#run(batch).finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
  }

  /**
   * For shutdown: flushes the open batch, flushes every later item at once (no lingering), and resolves once
   * no batch is being written.
   */
  async drain(): Promise<void> {
    this.#draining = true;
    this.flushNow();
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  async #run(batch: Waiting<I, R>[]): Promise<void> {
    let results: readonly BatchResult<R>[];
    try {
      results = await this.#options.flush(batch.map((waiting) => waiting.item));
      if (results.length !== batch.length) {
        throw new Error(`batch flush answered ${results.length} results for ${batch.length} items`);
      }
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    batch.forEach((waiting, index) => {
      const result = results[index]!;
      if (result.ok) waiting.resolve(result.value);
      else waiting.reject(result.error);
    });
  }
}
