import pino, { type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { traceLogFields } from "./tracing";

export type { Logger } from "pino";

export interface LoggerSettings {
  name: string;
  level?: string;
  /** Human-readable output; only used when asked for and stdout is a terminal. */
  pretty?: boolean;
  destination?: DestinationStream;
  /** Also write to this file, rotated by size and optionally by time (for hosts without a log collector). */
  file?: { path: string; rotateSize: string; rotateFrequency?: "daily" | "hourly"; keepFiles: number };
  /** Write to stdout as well (default true); a file-only logger sets it false. */
  stdout?: boolean;
}

/**
 * pino writes a bigint as a bare JSON number, which loses precision downstream: amounts go out as strings.
 * Objects without a bigint are returned as they are (most lines, such as the per-call line, have none).
 */
export function bigintsToStrings(value: unknown, depth = 0): unknown {
  if (typeof value === "bigint") return value.toString();
  if (depth > 4 || value === null || typeof value !== "object" || value instanceof Error) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const converted = bigintsToStrings(item, depth + 1);
      if (converted === item) return;
      copy ??= [...value];
      copy[i] = converted;
    });
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const item = (value as Record<string, unknown>)[key];
    const converted = bigintsToStrings(item, depth + 1);
    if (converted === item) continue;
    copy ??= { ...value };
    copy[key] = converted;
  }
  return copy ?? value;
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level ?? "info",
    base: { pid: process.pid, service: settings.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      log: (object) => bigintsToStrings(object) as Record<string, unknown>,
    },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    mixin: traceLogFields,
  };
  if (settings.destination) return pino(options, settings.destination);
  if (settings.file) {
    const { path, rotateSize, rotateFrequency, keepFiles } = settings.file;
    const targets: pino.TransportTargetOptions[] = [
      {
        target: "pino-roll",
        level: options.level as string,
        options: {
          file: path,
          size: rotateSize,
          frequency: rotateFrequency,
          mkdir: true,
          limit: { count: keepFiles },
        },
      },
    ];
    if (settings.stdout !== false)
      targets.push({ target: "pino/file", level: options.level as string, options: { destination: 1 } });
    return pino(options, pino.transport({ targets }));
  }
  if (settings.pretty && process.stdout.isTTY) {
    return pino({ ...options, transport: { target: "pino-pretty", options: { colorize: true } } });
  }
  return pino(options, stdoutDestination());
}

/**
 * stdout written asynchronously and in blocks: lines collect until 4 KiB or for at most 250 ms, then go out in
 * one write, so a busy ingress (a line per call) pays a syscall per block rather than per call, and a quiet one
 * still shows each line within a quarter second. pino flushes what is left synchronously when the process exits.
 */
function stdoutDestination(): DestinationStream {
  return pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 });
}

/** A logger that drops everything, for tests and tools that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
