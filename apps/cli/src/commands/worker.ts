import type { Command } from "../io";

// Filled by issue 9; until then the command says so instead of pretending to work.
export const worker: Command = async (_argv, io) => {
  io.stderr.write("heidrun worker: not built yet (issue 9)\n");
  return 1;
};
