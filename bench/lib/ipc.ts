import { type ChildProcess, fork } from "node:child_process";

/** Every IPC message between bench processes is an object with a `type`. */
export interface Message {
  type: string;
  [field: string]: unknown;
}

/**
 * A TypeScript child process (forked with tsx) spoken to over IPC: `next(type)` waits for its next message of
 * that type, and fails if the child exits first. Its stdout is dropped unless asked for (a server's per-call
 * log lines would only cost the parent time); stderr comes through.
 */
export class TsChild {
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #inbox: Message[] = [];
  #waiters: { type: string; resolve(message: Message): void; reject(error: Error): void }[] = [];
  #exitError: Error | undefined;

  /** `options` reaches the child as JSON in argv[2] (read it with `childOptions()`). */
  constructor(file: string, options: unknown, io: { stdout?: "inherit" | "ignore" } = {}) {
    this.process = fork(file, [JSON.stringify(options)], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", io.stdout ?? "ignore", "inherit", "ipc"],
    });
    this.process.on("message", (message: Message) => {
      const at = this.#waiters.findIndex((waiter) => waiter.type === message.type);
      if (at >= 0) this.#waiters.splice(at, 1)[0]!.resolve(message);
      else this.#inbox.push(message);
    });
    this.exited = new Promise((resolve) => {
      this.process.once("exit", (code, signal) => {
        this.#exitError = new Error(`${file} exited (${signal ?? code})`);
        for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#exitError);
        resolve({ code, signal });
      });
    });
  }

  /** The next message of `type` (one that already arrived counts). */
  next<T extends Message = Message>(type: string, timeoutMs = 60_000): Promise<T> {
    const at = this.#inbox.findIndex((message) => message.type === type);
    if (at >= 0) return Promise.resolve(this.#inbox.splice(at, 1)[0] as T);
    if (this.#exitError) return Promise.reject(this.#exitError);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(new Error(`no "${type}" message within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry = {
        type,
        resolve: (message: Message) => {
          clearTimeout(timer);
          resolve(message as T);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiters.push(entry);
    });
  }

  send(message: Message): void {
    if (this.process.connected) this.process.send(message);
  }

  /** Sends `{type: "ask"}` and waits for `{type: reply}`. */
  ask<T extends Message = Message>(message: Message, reply: string, timeoutMs?: number): Promise<T> {
    const answer = this.next<T>(reply, timeoutMs);
    this.send(message);
    return answer;
  }

  /** Asks it to stop; SIGKILL when it has not exited within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.send({ type: "stop" });
    const timer = setTimeout(() => this.process.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** In a child: the options its parent passed (JSON in argv[2]). */
export function childOptions<T>(): T {
  return JSON.parse(process.argv[2] ?? "{}") as T;
}

/** In a child: answers `handler` for each message, and exits when the parent goes away. */
export function onParentMessage(handler: (message: Message) => unknown): void {
  process.on("message", (message: Message) => {
    Promise.resolve(handler(message)).catch((error: unknown) => {
      process.stderr.write(`${process.argv[1]}: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    });
  });
  process.on("disconnect", () => process.exit(0));
}

/** Resolves once the message is handed to the IPC channel (before a `process.exit` that must not lose it). */
export function sendToParent(message: Message): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}
