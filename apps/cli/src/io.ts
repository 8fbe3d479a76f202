import type { ConfigStore } from "@heidrun/config";

export interface CommandIo {
  config: ConfigStore;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  stopSignal: Promise<string>;
}

/** A command takes its arguments (after its name) and returns the process exit code. */
export type Command = (argv: string[], io: CommandIo) => Promise<number>;
