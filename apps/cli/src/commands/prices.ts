import type { Command } from "../io";

// Filled by issue 6; until then the command says so instead of pretending to work.
export const prices: Command = async (_argv, io) => {
  io.stderr.write("heidrun prices: not built yet (issue 6)\n");
  return 1;
};
