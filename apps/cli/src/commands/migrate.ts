import { runMigrations } from "@heidrun/db";
import type { Command } from "../io";

export const migrate: Command = async (_argv, io) => {
  const { databaseUrl } = io.config.current();
  const result = await runMigrations(databaseUrl);
  const where = new URL(databaseUrl);
  where.password = "";
  if (result.createdDatabase) io.stdout.write(`created database ${where.pathname.slice(1)}\n`);
  io.stdout.write(`migrations: ${result.applied} applied (${where.host}${where.pathname})\n`);
  return 0;
};
