import type { Command } from "../io";

// Filled by issue 13; until then the command says so instead of pretending to work.
export const simulate: Command = async (_argv, io) => {
  io.stderr.write("heidrun simulate: not built yet (issue 13)\n");
  return 1;
};
