import { runIngress } from "@heidrun/ingress";
import type { Command } from "../io";

export const ingress: Command = async (_argv, io) => {
  await runIngress(io.config, { stopSignal: io.stopSignal });
  return 0;
};
