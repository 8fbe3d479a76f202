export interface MicroBatcherOptions {
  /** Most items one batch takes. */
  maxBatch: number;
  /** Batches running at once (each holds one connection). */
  maxConcurrent: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Groups concurrent calls into batches without a timer: while `maxConcurrent` batches run, new calls queue,
 * and each finished batch takes up to `maxBatch` of them. An idle system answers a lone call at once; a busy one
 * shares each transaction (audit chain head, commit flush) among many callers. `run` answers every item: a
 * value, or an Error for that item alone; if `run` itself throws, every item of the batch is rejected with it.
 */
export class MicroBatcher<I, O> {
  readonly #run: (items: I[]) => Promise<(O | Error)[]>;
  readonly #options: MicroBatcherOptions;
  readonly #queue: Waiting<I, O>[] = [];
  #active = 0;

  constructor(run: (items: I[]) => Promise<(O | Error)[]>, options: MicroBatcherOptions) {
    this.#run = run;
    this.#options = options;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#active < this.#options.maxConcurrent && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.maxBatch);
      this.#active++;
      void this.#settle(batch).finally(() => {
        this.#active--;
        this.#pump();
      });
    }
  }

  async #settle(batch: Waiting<I, O>[]): Promise<void> {
    let answers: (O | Error)[];
    try {
      answers = await this.#run(batch.map((waiting) => waiting.item));
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    batch.forEach((waiting, index) => {
      const answer = answers[index];
      if (answer instanceof Error) waiting.reject(answer);
      else if (answer === undefined)
        waiting.reject(new Error("batch answered fewer items than it was given"));
      else waiting.resolve(answer);
    });
  }
}
