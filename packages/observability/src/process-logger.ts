import type { Config } from "@heidrun/config";
import { createLogger, type Logger } from "./logger";

/** The logger of a Heidrun process: stdout JSON, plus a rotating file when `log.file` is set. */
export function createProcessLogger(name: string, config: Config): Logger {
  const { file, rotateSize, rotateFrequency, keepFiles } = config.settings.log;
  return createLogger({
    name,
    level: config.logLevel,
    ...(file ? { file: { path: file, rotateSize, rotateFrequency, keepFiles } } : {}),
  });
}
