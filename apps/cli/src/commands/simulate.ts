import type { Command } from "../io";
import { parseSimulateArgs, SIMULATE_USAGE, UsageError } from "../simulate/options";
import { PriceBookError } from "../simulate/prices";
import { runSimulation, SimulationError, verdict } from "../simulate/run";

/** `heidrun simulate`: exit 0 when its books and Heidrun's agree to the micro, 1 otherwise, 2 for bad usage. */
export const simulate: Command = async (argv, io) => {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout.write(SIMULATE_USAGE);
    return 0;
  }
  let options: ReturnType<typeof parseSimulateArgs>;
  try {
    options = parseSimulateArgs(argv, io.config.current());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`heidrun simulate: ${error.message}\n\n${SIMULATE_USAGE}`);
    return 2;
  }
  try {
    const report = await runSimulation(options, { stdout: io.stdout, stopSignal: io.stopSignal });
    if (options.dryRun) return 0;
    for (const line of verdict(report)) io.stdout.write(`${line}\n`);
    return report.differences.length === 0 ? 0 : 1;
  } catch (error) {
    if (error instanceof SimulationError || error instanceof PriceBookError) {
      io.stderr.write(`heidrun simulate: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
};
