import { runDashboard } from "@heidrun/dashboard";
import type { Command } from "../io";

/** `heidrun dashboard`: Bull Board, the settlement overview and /metrics on HEIDRUN_DASHBOARD_ADDR until stopped. */
export const dashboard: Command = async (_argv, io) => {
  await runDashboard(io.config, { stopSignal: io.stopSignal });
  return 0;
};
