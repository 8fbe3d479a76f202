import type { Command } from "../io";

// Filled by issue 3; until then the command says so instead of pretending to work.
export const ingress: Command = async (_argv, io) => {
  io.stderr.write("heidrun ingress: not built yet (issue 3)\n");
  return 1;
};
