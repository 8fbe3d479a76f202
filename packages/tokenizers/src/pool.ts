import { Worker } from "node:worker_threads";
import { DomainError } from "@heidrun/core";
import { BPE_TOKENIZERS, type BpeTokenizerName } from "./text-count.mjs";

export interface OffThreadCount {
  /** Sum of the texts' tokens. */
  tokens: number;
  /** The worker thread that counted; never the caller's thread. */
  threadId: number;
}

export interface CountWorkerPoolOptions {
  size: number;
  /** Tasks waiting for a worker beyond this are refused with RESOURCE_EXHAUSTED. */
  maxQueued: number;
  /** Loaded by every worker as it starts, so the first big request does not pay for it. */
  preload?: readonly BpeTokenizerName[];
}

interface Task {
  id: number;
  tokenizer: BpeTokenizerName;
  texts: readonly string[];
  resolve(result: OffThreadCount): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  task: Task | undefined;
}

type WorkerMessage =
  | { kind: "ready"; threadId: number }
  | { kind: "result"; id: number; tokens?: number; error?: string; threadId: number };

const WORKER_URL = new URL("./count-worker.mjs", import.meta.url);

/**
 * A fixed number of worker threads counting with the BPE tokenizers, fed from one FIFO queue; each worker
 * counts one task at a time. A worker that dies fails only its own task and is replaced on demand.
 */
export class CountWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextTaskId = 1;
  private completed = 0;
  private closed = false;

  constructor(private readonly options: CountWorkerPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw DomainError.invalid("tokenizers.poolSize", "must be a positive integer");
    }
  }

  count(tokenizer: BpeTokenizerName, texts: readonly string[]): Promise<OffThreadCount> {
    if (this.closed) return Promise.reject(DomainError.unavailable("token counting pool is closed"));
    return new Promise<OffThreadCount>((resolve, reject) => {
      this.queue.push({ id: this.nextTaskId++, tokenizer, texts, resolve, reject });
      this.dispatch();
      // Still waiting beyond the limit means no worker was free: the newest task is the one refused.
      if (this.queue.length > this.options.maxQueued) {
        this.queue.pop();
        const waiting = this.options.maxQueued;
        reject(new DomainError("RESOURCE_EXHAUSTED", `token counting queue is full (${waiting} waiting)`));
      }
    });
  }

  /** Starts every worker and waits until each has loaded its preloaded tokenizers. */
  async warmUp(): Promise<void> {
    if (this.closed) throw DomainError.unavailable("token counting pool is closed");
    while (this.slots.length < this.options.size) this.spawn();
    await Promise.all(this.slots.map((slot) => slot.ready));
  }

  stats(): { completed: number; queued: number; busy: number; workers: number } {
    return {
      completed: this.completed,
      queued: this.queue.length,
      busy: this.slots.filter((slot) => slot.task !== undefined).length,
      workers: this.slots.length,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closedError = DomainError.unavailable("token counting pool is closed");
    for (const task of this.queue.splice(0)) task.reject(closedError);
    const slots = this.slots.splice(0);
    for (const slot of slots) slot.task?.reject(closedError);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((candidate) => candidate.task === undefined) ?? this.spawnIfRoom();
      if (slot === undefined) return;
      const task = this.queue.shift()!;
      slot.task = task;
      // Referenced only while busy: an idle pool must not keep the process alive, a busy one must.
      slot.worker.ref();
      slot.worker.postMessage({ id: task.id, tokenizer: task.tokenizer, texts: task.texts });
    }
  }

  private spawnIfRoom(): Slot | undefined {
    return this.slots.length < this.options.size ? this.spawn() : undefined;
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL, {
      workerData: { preload: this.options.preload ?? BPE_TOKENIZERS },
    });
    worker.unref();
    let markReady: () => void = () => {};
    let failReady: (error: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    // A failed start surfaces through warmUp() or the task; never as an unhandled rejection.
    ready.catch(() => {});
    const slot: Slot = { worker, ready, task: undefined };
    this.slots.push(slot);

    worker.on("message", (message: WorkerMessage) => {
      if (message.kind === "ready") return markReady();
      this.finish(slot, message);
    });
    worker.on("error", (error) => {
      failReady(error);
      this.retire(
        slot,
        new DomainError("INTERNAL", `token counting worker failed: ${error.message}`, { cause: error }),
      );
    });
    worker.on("exit", (code) => {
      const error = new DomainError("INTERNAL", `token counting worker exited with code ${code}`);
      failReady(error);
      this.retire(slot, error);
    });
    return slot;
  }

  private finish(slot: Slot, message: Extract<WorkerMessage, { kind: "result" }>): void {
    const task = slot.task;
    if (task === undefined || task.id !== message.id) return;
    slot.task = undefined;
    slot.worker.unref();
    if (message.error !== undefined || message.tokens === undefined) {
      task.reject(
        new DomainError("INTERNAL", `token counting failed: ${message.error ?? "no count returned"}`),
      );
    } else {
      this.completed++;
      task.resolve({ tokens: message.tokens, threadId: message.threadId });
    }
    this.dispatch();
  }

  private retire(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    slot.task?.reject(error);
    slot.task = undefined;
    void slot.worker.terminate();
    if (!this.closed) this.dispatch();
  }
}
