import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { isDomainError } from "@heidrun/core";
import type { Db } from "./pool";
import { PriceIndex } from "./price-cache-index";
import { DecimalText, parseJsonExact } from "./price-import-decimal";
import { PriceFileError, parseHeidrunCsv, parseHeidrunJson } from "./price-import-heidrun";
import { parseLiteLlm } from "./price-import-litellm";
import {
  countPriceVersions,
  loadPriceVersions,
  type PriceInput,
  priceCandidate,
  priceContent,
  setPrice,
} from "./prices";

export { PriceFileError } from "./price-import-heidrun";

export type PriceFileFormat = "heidrun-json" | "heidrun-csv" | "litellm";

/** One price read from a file; `label` says where (`openai/gpt-4o`, `line 7 (…)`). */
export interface ImportEntry {
  label: string;
  price: PriceInput;
}

export interface ImportSkip {
  label: string;
  reason: string;
}

export interface ParsedPriceFile {
  format: PriceFileFormat;
  entries: ImportEntry[];
  /** Entries the file holds but that cannot be imported as they are. */
  skipped: ImportSkip[];
}

/** The example catalog that a fresh deployment starts with. */
export const EXAMPLE_CATALOG_PATH = fileURLToPath(
  new URL("../../../config/prices.example.json", import.meta.url),
);

/** Reads a catalog in Heidrun's JSON or CSV format or LiteLLM's; throws PriceFileError if it is neither. */
export function parsePriceFile(content: string, fileName = ""): ParsedPriceFile {
  if (fileName.toLowerCase().endsWith(".csv")) return parseHeidrunCsv(content);
  let document: unknown;
  try {
    document = parseJsonExact(content);
  } catch (error) {
    if (/^\s*"?provider_id"?\s*,/.test(content)) return parseHeidrunCsv(content);
    throw new PriceFileError(`neither JSON nor Heidrun CSV: ${(error as Error).message}`);
  }
  if (
    typeof document !== "object" ||
    document === null ||
    Array.isArray(document) ||
    document instanceof DecimalText
  ) {
    throw new PriceFileError("a catalog must be a JSON object");
  }
  const record = document as Record<string, unknown>;
  return Array.isArray(record.prices) ? parseHeidrunJson(record) : parseLiteLlm(record);
}

export interface ImportOptions {
  /** Recorded with every version and audit record, e.g. `cli:<user>`. */
  actor: string;
  /** Work out and report what would change, writing nothing. */
  dryRun?: boolean;
  /** Import only this provider's prices. */
  provider?: string;
  /** The deployment currency (settings.currency). */
  currency?: string;
  now?: () => Date;
  onProgress?: (done: number, total: number) => void;
  /** Announces the created versions to every price cache (publishPriceChange); not called in a dry run. */
  publish?: (ids: bigint[]) => Promise<void>;
}

export interface ImportOutcome {
  label: string;
  status: "created" | "unchanged" | "skipped";
  reason?: string;
  /** The version created (in a dry run: none). */
  version?: bigint;
}

export interface ImportReport {
  format: PriceFileFormat;
  dryRun: boolean;
  outcomes: ImportOutcome[];
  created: number;
  unchanged: number;
  skipped: number;
  /** Entries of other providers than `provider`. */
  ignored: number;
  createdIds: bigint[];
  /** Why the created versions could not be announced (caches still converge at their next refresh). */
  publishError?: string;
}

/** Deterministic from the content and what it replaces, so a re-run (or a concurrent twin) replays, not duplicates. */
function importRequestId(
  content: string,
  effectiveFrom: Date | null | undefined,
  replacing: bigint | undefined,
) {
  const basis = `${content}\n${effectiveFrom?.toISOString() ?? "now"}\n${replacing ?? "none"}`;
  return `import:${createHash("sha256").update(basis).digest("hex").slice(0, 40)}`;
}

/**
 * Imports a parsed catalog through setPrice (one audited transaction per new version). A price equal to the
 * version in effect is left alone, so importing the same file twice creates nothing the second time.
 */
export async function importPrices(
  db: Db,
  file: ParsedPriceFile,
  options: ImportOptions,
): Promise<ImportReport> {
  const now = options.now ?? (() => new Date());
  const wanted = file.entries.filter(
    (e) => options.provider === undefined || e.price.providerId === options.provider,
  );
  const outcomes: ImportOutcome[] = file.skipped
    .filter((skip) => options.provider === undefined || skip.label.startsWith(`${options.provider}/`))
    .map((skip) => ({ ...skip, status: "skipped" as const }));
  const index = new PriceIndex(await loadPriceVersions(db));
  const seen = new Map<string, string>();
  const createdIds: bigint[] = [];
  for (const [done, entry] of wanted.entries()) {
    outcomes.push(await importOne(db, entry, index, seen, createdIds, { ...options, now }));
    options.onProgress?.(done + 1, wanted.length);
  }
  const count = (status: ImportOutcome["status"]) => outcomes.filter((o) => o.status === status).length;
  const report: ImportReport = {
    format: file.format,
    dryRun: options.dryRun === true,
    outcomes,
    created: count("created"),
    unchanged: count("unchanged"),
    skipped: count("skipped"),
    ignored: file.entries.length - wanted.length,
    createdIds,
  };
  if (createdIds.length > 0 && options.publish) {
    await options.publish(createdIds).catch((error: unknown) => {
      report.publishError = error instanceof Error ? error.message : String(error);
    });
  }
  return report;
}

async function importOne(
  db: Db,
  entry: ImportEntry,
  index: PriceIndex,
  seen: Map<string, string>,
  createdIds: bigint[],
  options: ImportOptions & { now: () => Date },
): Promise<ImportOutcome> {
  const { label, price } = entry;
  const key = `${price.providerId}\n${price.model}`;
  const first = seen.get(key);
  if (first !== undefined) return { label, status: "skipped", reason: `duplicate of ${first}` };
  seen.set(key, label);
  try {
    const candidate = priceCandidate(price, options);
    const current = index.find(candidate.providerId, candidate.model, candidate.effectiveFrom);
    const content = priceContent(candidate);
    if (current !== undefined && priceContent(current) === content) {
      return { label, status: "unchanged", version: current.version };
    }
    if (options.dryRun) return { label, status: "created" };
    const requestId = importRequestId(content, price.effectiveFrom, current?.id);
    const result = await setPrice(db, price, {
      requestId,
      actor: options.actor,
      currency: candidate.currency,
      now: options.now,
    });
    if (!result.created) return { label, status: "unchanged", version: result.price.version };
    createdIds.push(result.price.id);
    return { label, status: "created", version: result.price.version };
  } catch (error) {
    if (!isDomainError(error) || error.code !== "INVALID_ARGUMENT") throw error;
    return { label, status: "skipped", reason: error.message };
  }
}

export interface SeedOptions extends Omit<ImportOptions, "dryRun" | "provider"> {
  /** Default: config/prices.example.json of this checkout. */
  file?: string;
}

/** Loads the example catalog into an empty price table (a fresh deployment); does nothing once any price exists. */
export async function seedExampleCatalogIfEmpty(
  db: Db,
  options: SeedOptions,
): Promise<ImportReport | undefined> {
  if ((await countPriceVersions(db)) > 0n) return undefined;
  const file = options.file ?? EXAMPLE_CATALOG_PATH;
  return importPrices(db, parsePriceFile(await readFile(file, "utf8"), file), options);
}
