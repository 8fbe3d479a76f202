import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import {
  createDb,
  createPool,
  importPrices,
  PriceFileError,
  parsePriceFile,
  priceChannel,
  pricesInEffect,
  publishPriceChange,
} from "@heidrun/db";
import { connectRedis, type QueueConnection, redisReady } from "@heidrun/queue";
import type { Command, CommandIo } from "../io";
import { importReportText, priceTable } from "../prices/table";

const USAGE = `usage: heidrun prices import FILE [--dry-run] [--provider P]
       heidrun prices list [--provider P] [--at ISO-8601]

import reads Heidrun's JSON or CSV catalog or LiteLLM's model_prices_and_context_window.json (docs/prices.md).
`;

/** Exit codes: 0 done, 2 bad arguments, 65 the file is no catalog (EX_DATAERR), 66 it cannot be read (EX_NOINPUT). */
const OK = 0;
const USAGE_ERROR = 2;

class UsageError extends Error {}

/** Runs node:util parseArgs, turning its complaints into usage errors. */
function parsedArgs<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function actor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli";
  }
}

/** A progress line rewritten in place; only where a person is watching. */
function progress(io: CommandIo): ((done: number, total: number) => void) | undefined {
  if (!io.stderr.isTTY) return undefined;
  return (done, total) => {
    io.stderr.write(`\r\x1b[Kimporting ${done}/${total}`);
    if (done === total) io.stderr.write("\r\x1b[K");
  };
}

async function importCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsedArgs(() =>
    parseArgs({
      args: argv,
      options: { "dry-run": { type: "boolean" }, provider: { type: "string" } },
      allowPositionals: true,
    }),
  );
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new UsageError("prices import takes exactly one FILE");
  let content: string;
  try {
    content = await readFile(file, "utf8");
  } catch (error) {
    io.stderr.write(`heidrun prices import: cannot read ${file}: ${(error as Error).message}\n`);
    return 66;
  }
  let parsed: ReturnType<typeof parsePriceFile>;
  try {
    parsed = parsePriceFile(content, file);
  } catch (error) {
    if (!(error instanceof PriceFileError)) throw error;
    io.stderr.write(`heidrun prices import: ${file}: ${error.message}\n`);
    return 65;
  }
  const config = io.config.current();
  const pool = createPool(config.databaseUrl, { max: 2, applicationName: "heidrun-cli" });
  let redis: QueueConnection | undefined;
  const provider = values.provider;
  try {
    const report = await importPrices(createDb(pool), parsed, {
      actor: actor(),
      dryRun: values["dry-run"] === true,
      provider,
      currency: config.settings.currency,
      onProgress: progress(io),
      publish: async (ids) => {
        redis = connectRedis(config, "producer");
        await redisReady(redis, 5000);
        await publishPriceChange(redis, priceChannel(config.settings.queue.prefix), ids);
      },
    });
    io.stdout.write(importReportText(report, file, provider));
    if (report.publishError !== undefined) {
      io.stderr.write(
        `heidrun prices import: the new prices are stored, but the price caches were not told (${report.publishError}); ` +
          `they pick them up at their next refresh (settings.priceCache.refreshIntervalMs)\n`,
      );
    }
    return OK;
  } finally {
    redis?.disconnect();
    await pool.end();
  }
}

async function listCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parsedArgs(() =>
    parseArgs({
      args: argv,
      options: { provider: { type: "string" }, at: { type: "string" } },
      allowPositionals: true,
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const at = values.at === undefined ? new Date() : new Date(values.at);
  if (Number.isNaN(at.getTime()))
    throw new UsageError(`--at must be an ISO 8601 timestamp, got "${values.at}"`);
  const pool = createPool(io.config.current().databaseUrl, { max: 1, applicationName: "heidrun-cli" });
  try {
    const provider = values.provider;
    const prices = await pricesInEffect(createDb(pool), at, provider);
    if (prices.length === 0) {
      io.stdout.write(`no prices in effect at ${at.toISOString()}${provider ? ` for ${provider}` : ""}\n`);
    } else {
      io.stdout.write(priceTable(prices));
    }
    return OK;
  } finally {
    await pool.end();
  }
}

/** `heidrun prices import FILE [--dry-run] [--provider P]` and `heidrun prices list [--provider P] [--at T]`. */
export const prices: Command = async (argv, io) => {
  const [subcommand, ...rest] = argv;
  try {
    if (subcommand === "import") return await importCommand(rest, io);
    if (subcommand === "list") return await listCommand(rest, io);
    throw new UsageError(
      subcommand === undefined ? "which prices command?" : `unknown prices command ${subcommand}`,
    );
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`heidrun prices: ${error.message}\n${USAGE}`);
    return USAGE_ERROR;
  }
};
