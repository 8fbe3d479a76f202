import type { Command } from "../io";

export const audit: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  const commands = await import("./audit");
  if (sub === "verify") return commands.auditVerify(rest, io);
  if (sub === "head") return commands.auditHead(rest, io);
  io.stderr.write("usage: heidrun audit verify [--from SEQ] | heidrun audit head\n");
  return 2;
};
