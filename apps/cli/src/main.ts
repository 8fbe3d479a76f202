#!/usr/bin/env node
import { ConfigError, loadConfig } from "@heidrun/config";
import { DomainError } from "@heidrun/core";
import type { Command, CommandIo } from "./io";

/** Commands load lazily so `heidrun migrate` does not pay for gRPC or BullMQ. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  start: {
    summary: "migrate, then run ingress, worker and dashboard",
    load: async () => (await import("./commands/start")).start,
  },
  migrate: {
    summary: "create the database if missing and apply migrations",
    load: async () => (await import("./commands/migrate")).migrate,
  },
  ingress: {
    summary: "run the gRPC ingress",
    load: async () => (await import("./commands/ingress")).ingress,
  },
  worker: {
    summary: "run a settlement worker",
    load: async () => (await import("./commands/worker")).worker,
  },
  dashboard: {
    summary: "run the ops dashboard",
    load: async () => (await import("./commands/dashboard")).dashboard,
  },
  audit: {
    summary: "audit verify [--from SEQ] | audit head",
    load: async () => (await import("./commands/audit-dispatch")).audit,
  },
  prices: {
    summary: "prices import FILE [--dry-run] | prices list [--provider P]",
    load: async () => (await import("./commands/prices")).prices,
  },
  settlements: {
    summary: "settlements rerun [filters] | settlements reconcile",
    load: async () => (await import("./commands/settlements")).settlements,
  },
  simulate: {
    summary: "drive the ingress like Yggdrasil does",
    load: async () => (await import("./commands/simulate")).simulate,
  },
  demo: {
    summary: "start the fleet, simulate a minute of traffic, show where to look",
    load: async () => (await import("./commands/demo")).demo,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: heidrun <command> [options]\n\ncommands:\n${lines.join("\n")}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`heidrun: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  let config: CommandIo["config"];
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`heidrun: refusing to start: ${error.message}\n`);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  const stopSignal = new Promise<string>((resolve) => {
    let received = 0;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.on(signal, () => {
        // The first signal asks for a graceful stop; a second one means "now".
        if (++received > 1) process.exit(130);
        resolve(signal);
      });
    }
  });
  const command = await entry.load();
  return command(rest, { config, stdout: process.stdout, stderr: process.stderr, stopSignal });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // A DomainError is already said for the operator (a taken port, a refused setting): one line, no stack.
    const text =
      error instanceof DomainError
        ? error.message
        : error instanceof Error
          ? (error.stack ?? error.message)
          : String(error);
    process.stderr.write(`heidrun: ${text}\n`);
    process.exitCode = error instanceof DomainError && error.code === "UNAVAILABLE" ? 69 : 1;
  },
);
