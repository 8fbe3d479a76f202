import { runWorker } from "@heidrun/worker";
import type { Command } from "../io";

/** `heidrun worker`: settles queued usage until SIGTERM/SIGINT, then stops gracefully. */
export const worker: Command = async (_argv, io) => {
  await runWorker(io.config, { stopSignal: io.stopSignal });
  return 0;
};
