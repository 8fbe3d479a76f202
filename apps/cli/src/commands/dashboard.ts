import type { Command } from "../io";

// Filled by issue 10; until then the command says so instead of pretending to work.
export const dashboard: Command = async (_argv, io) => {
  io.stderr.write("heidrun dashboard: not built yet (issue 10)\n");
  return 1;
};
