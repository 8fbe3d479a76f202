/** The answer for one item of a flushed batch: each item succeeds or fails on its own. */
export type BatchResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface BatcherOptions<I, R> {
  /** Read at every add, so a settings reload applies to the next batch. */
  maxSize: () => number;
  /** How long the first item of a batch waits for others before the batch is flushed anyway. */
  lingerMs: () => number;
  /** Writes a batch and answers every item, in order. A throw fails every item of the batch with that error. */
  flush: (items: readonly I[]) => Promise<readonly BatchResult<R>[]>;
  /**
   * How many flushes may run at once (default: no limit). While all are busy, due batches wait and the open
   * batch keeps filling up to maxSize, so a slow writer gets fewer, larger batches instead of a pile of small
   * ones competing for connections and locks.
   */
  maxConcurrentFlushes?: () => number;
}

interface Waiting<I, R> {
  item: I;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects items from many concurrent callers into batches of up to `maxSize` or `lingerMs`, whichever comes
 * first, flushes each batch once, and settles each caller's promise with that item's own result. Flushes may
 * overlap (up to maxConcurrentFlushes): a full batch goes out while the previous one is still being written.
 */
export class Batcher<I, R> {
  readonly #options: BatcherOptions<I, R>;
  #open: Waiting<I, R>[] = [];
  /** Batches that are due (full, or lingered long enough) and wait for a free flush slot. */
  readonly #due: Waiting<I, R>[][] = [];
  /** The open batch lingered long enough: it goes out at the next free slot. */
  #openDue = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  #draining = false;

  constructor(options: BatcherOptions<I, R>) {
    this.#options = options;
  }

  /** Items not yet handed to `flush` (the open batch and due batches waiting for a slot). */
  get pending(): number {
    return this.#open.length + this.#due.reduce((sum, batch) => sum + batch.length, 0);
  }

  /** Batches handed to `flush` whose results are not in yet. */
  get flushing(): number {
    return this.#inFlight.size;
  }

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#open.push({ item, resolve, reject });
      if (this.#open.length >= Math.max(1, this.#options.maxSize())) {
        this.#seal();
      } else if (this.#draining) {
        this.#openDue = true;
      } else if (this.#timer === undefined && !this.#openDue) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#openDue = true;
          this.#pump();
        }, this.#options.lingerMs());
      }
      this.#pump();
    });
  }

  /** Makes the open batch due now, without waiting for it to fill or linger. */
  flushNow(): void {
    if (this.#open.length > 0) this.#openDue = true;
    this.#pump();
  }

  /**
   * For shutdown: flushes everything waiting, flushes every later item at once (no lingering), and resolves
   * once no batch is waiting or being written.
   */
  async drain(): Promise<void> {
    this.#draining = true;
    this.flushNow();
    while (this.#inFlight.size > 0 || this.pending > 0) {
      this.flushNow();
      await Promise.race([...this.#inFlight]);
    }
  }

  #seal(): void {
    if (this.#open.length === 0) return;
    this.#due.push(this.#open);
    this.#open = [];
    this.#openDue = false;
    this.#clearTimer();
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Starts due batches while flush slots are free. */
  #pump(): void {
    const limit = Math.max(1, this.#options.maxConcurrentFlushes?.() ?? Number.POSITIVE_INFINITY);
    while (this.#inFlight.size < limit) {
      if (this.#due.length === 0 && this.#openDue) this.#seal();
      const batch = this.#due.shift();
      if (batch === undefined) return;
      const done = this.#run(batch).finally(() => {
        this.#inFlight.delete(done);
        this.#pump();
      });
      this.#inFlight.add(done);
    }
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
