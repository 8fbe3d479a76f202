import {
  DomainError,
  type PriceTier,
  type PriceVersion,
  requestFingerprint,
  validatePriceVersion,
} from "@heidrun/core";
import { asc, eq, gt, inArray, or, sql } from "drizzle-orm";
import { appendAudit } from "./audit";
import type { Db, DbOrTx } from "./pool";
import { priceVersions } from "./schema";

/** A stored price version: core's PriceVersion plus its row id (price_versions.id). */
export interface PricedVersion extends PriceVersion {
  id: bigint;
}

/** A new price as SetPricingConfig or an importer gives it; Heidrun assigns the version. */
export interface PriceInput {
  providerId: string;
  /** "*" = the provider's default. */
  model: string;
  inputMicrosPerMtok: bigint;
  outputMicrosPerMtok: bigint;
  cachedInputMicrosPerMtok?: bigint | null;
  cacheWriteMicrosPerMtok?: bigint | null;
  tiers?: readonly PriceTier[];
  /** Unset: now. */
  effectiveFrom?: Date | null;
  /** Unset or empty: the deployment currency. */
  currency?: string | null;
}

export interface SetPriceOptions {
  /** The idempotency key. */
  requestId: string;
  /** Who asked: an API key id or `cli:<user>`; recorded with the version and in the audit trail. */
  actor: string;
  /** The deployment currency: the default, and the only one accepted (a price in another would be misread). */
  currency?: string;
  /** The clock for the default effective_from (tests pin it). */
  now?: () => Date;
}

export interface SetPriceResult {
  price: PricedVersion;
  /** False when the request_id was already applied and this is its first answer again. */
  created: boolean;
}

export const DEFAULT_CURRENCY = "USD";

// Keeps price-version advisory locks apart from anyone else's (two-key form: class, hashed key).
const PRICE_LOCK_CLASS = 0x70726963;

/** The jsonb form of a tier: wire field names, every amount a decimal string, unset kinds left out. */
type StoredTier = Record<string, string>;

function tierToStored(tier: PriceTier): StoredTier {
  const stored: StoredTier = { above_input_tokens: tier.aboveInputTokens.toString() };
  if (tier.input != null) stored.input_micros_per_mtok = tier.input.toString();
  if (tier.output != null) stored.output_micros_per_mtok = tier.output.toString();
  if (tier.cachedInput != null) stored.cached_input_micros_per_mtok = tier.cachedInput.toString();
  if (tier.cacheWrite != null) stored.cache_write_micros_per_mtok = tier.cacheWrite.toString();
  return stored;
}

function tierFromStored(stored: StoredTier): PriceTier {
  const amount = (name: string) => (stored[name] === undefined ? null : BigInt(stored[name]));
  return {
    aboveInputTokens: BigInt(stored.above_input_tokens ?? "0"),
    input: amount("input_micros_per_mtok"),
    output: amount("output_micros_per_mtok"),
    cachedInput: amount("cached_input_micros_per_mtok"),
    cacheWrite: amount("cache_write_micros_per_mtok"),
  };
}

/** Lowest threshold first, so equal prices compare and fingerprint equal whatever order they came in. */
function sortedTiers(tiers: readonly PriceTier[] | undefined): PriceTier[] {
  return [...(tiers ?? [])].sort((a, b) =>
    a.aboveInputTokens < b.aboveInputTokens ? -1 : a.aboveInputTokens > b.aboveInputTokens ? 1 : 0,
  );
}

type PriceRow = typeof priceVersions.$inferSelect;

export function priceFromRow(row: PriceRow): PricedVersion {
  return {
    id: row.id,
    providerId: row.providerId,
    model: row.model,
    version: row.version,
    inputMicrosPerMtok: row.inputMicrosPerMtok,
    outputMicrosPerMtok: row.outputMicrosPerMtok,
    cachedInputMicrosPerMtok: row.cachedInputMicrosPerMtok,
    cacheWriteMicrosPerMtok: row.cacheWriteMicrosPerMtok,
    tiers: (row.tiers as StoredTier[]).map(tierFromStored),
    currency: row.currency,
    effectiveFrom: row.effectiveFrom,
  };
}

/** The arguments that make two prices the same price (not when or by whom), canonical. */
export function priceContent(price: Omit<PriceInput, "effectiveFrom">): string {
  return requestFingerprint({
    providerId: price.providerId,
    model: price.model,
    input: price.inputMicrosPerMtok,
    output: price.outputMicrosPerMtok,
    cachedInput: price.cachedInputMicrosPerMtok ?? undefined,
    cacheWrite: price.cacheWriteMicrosPerMtok ?? undefined,
    tiers: sortedTiers(price.tiers).map((tier) => tierToStored(tier)),
    currency: price.currency || undefined,
  });
}

function fingerprintOf(input: PriceInput): string {
  return requestFingerprint({
    content: priceContent(input),
    effectiveFrom: input.effectiveFrom ?? undefined,
  });
}

function requestConflict(requestId: string): DomainError {
  return new DomainError(
    "ALREADY_EXISTS",
    `request_id ${requestId} was already used with different arguments`,
    {
      field: "request_id",
    },
  );
}

async function replayOf(
  db: DbOrTx,
  requestId: string,
  fingerprint: string,
): Promise<PricedVersion | undefined> {
  const [row] = await db.select().from(priceVersions).where(eq(priceVersions.requestId, requestId));
  if (row === undefined) return undefined;
  if (row.fingerprint !== fingerprint) throw requestConflict(requestId);
  return priceFromRow(row);
}

/**
 * The version `input` would become (version 1 until the database assigns one): defaults applied, validated, the
 * currency checked against the deployment's. Throws INVALID_ARGUMENT naming the field (`price.…`).
 */
export function priceCandidate(
  input: PriceInput,
  options: Pick<SetPriceOptions, "currency" | "now"> = {},
): PriceVersion {
  const currency = options.currency ?? DEFAULT_CURRENCY;
  if (input.currency && input.currency !== currency) {
    throw DomainError.invalid(
      "price.currency",
      `must be the deployment currency ${currency}, got ${input.currency}`,
    );
  }
  const candidate: PriceVersion = {
    providerId: input.providerId,
    model: input.model,
    inputMicrosPerMtok: input.inputMicrosPerMtok,
    outputMicrosPerMtok: input.outputMicrosPerMtok,
    cachedInputMicrosPerMtok: input.cachedInputMicrosPerMtok ?? null,
    cacheWriteMicrosPerMtok: input.cacheWriteMicrosPerMtok ?? null,
    tiers: sortedTiers(input.tiers),
    effectiveFrom: input.effectiveFrom ?? (options.now ?? (() => new Date()))(),
    version: 1n,
    currency,
  };
  return validatePriceVersion(candidate, "price");
}

/**
 * Adds a price version: version = max(version) + 1 for (provider, model) under a per-key transaction lock, with
 * a `price.set` audit record in the same transaction. A repeated request_id with the same arguments answers the
 * first version again; with others, ALREADY_EXISTS. Publishing the change to the caches is the caller's job.
 */
export async function setPrice(db: Db, input: PriceInput, options: SetPriceOptions): Promise<SetPriceResult> {
  const candidate = priceCandidate(input, options);
  const currency = candidate.currency;
  const fingerprint = fingerprintOf(input);

  const known = await replayOf(db, options.requestId, fingerprint);
  if (known) return { price: known, created: false };

  return db.transaction(async (tx) => {
    const key = `${candidate.providerId}/${candidate.model}`;
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${PRICE_LOCK_CLASS}::int, hashtext(${key}))`);
    const tiers = JSON.stringify(candidate.tiers.map(tierToStored));
    const inserted = await tx.execute(sql`
      INSERT INTO price_versions (provider_id, model, version, input_micros_per_mtok, output_micros_per_mtok,
        cached_input_micros_per_mtok, cache_write_micros_per_mtok, tiers, currency, effective_from, request_id,
        fingerprint, actor)
      SELECT ${candidate.providerId}, ${candidate.model}, coalesce(max(version), 0) + 1,
        ${candidate.inputMicrosPerMtok}::bigint, ${candidate.outputMicrosPerMtok}::bigint,
        ${candidate.cachedInputMicrosPerMtok}::bigint, ${candidate.cacheWriteMicrosPerMtok}::bigint,
        ${tiers}::jsonb, ${currency}, ${candidate.effectiveFrom.toISOString()}::timestamptz, ${options.requestId},
        ${fingerprint}, ${options.actor}
      FROM price_versions WHERE provider_id = ${candidate.providerId} AND model = ${candidate.model}
      ON CONFLICT (request_id) DO NOTHING
      RETURNING id, version`);
    const row = inserted.rows[0] as { id: bigint; version: bigint } | undefined;
    if (row === undefined) {
      // A twin with this request_id committed while we waited for the lock.
      const twin = await replayOf(tx, options.requestId, fingerprint);
      if (!twin)
        throw new DomainError("INTERNAL", `price_versions: request_id ${options.requestId} vanished`);
      return { price: twin, created: false };
    }
    const price: PricedVersion = { ...candidate, id: row.id, version: row.version };
    await appendAudit(tx, [
      {
        type: "price.set",
        requestId: options.requestId,
        providerId: price.providerId,
        actor: options.actor,
        data: {
          priceVersionId: price.id,
          model: price.model,
          version: price.version,
          inputMicrosPerMtok: price.inputMicrosPerMtok,
          outputMicrosPerMtok: price.outputMicrosPerMtok,
          cachedInputMicrosPerMtok: price.cachedInputMicrosPerMtok ?? null,
          cacheWriteMicrosPerMtok: price.cacheWriteMicrosPerMtok ?? null,
          tiers: price.tiers.map(tierToStored),
          currency,
          effectiveFrom: price.effectiveFrom,
        },
      },
    ]);
    return { price, created: true };
  });
}

/** Price versions in id order: all of them, or those after `afterId` plus the listed `ids` (a cache catching up). */
export async function loadPriceVersions(
  db: DbOrTx,
  since?: { afterId: bigint; ids?: readonly bigint[] },
): Promise<PricedVersion[]> {
  const query = db.select().from(priceVersions);
  if (since === undefined) return (await query.orderBy(asc(priceVersions.id))).map(priceFromRow);
  const after = gt(priceVersions.id, since.afterId);
  const where = since.ids?.length ? or(after, inArray(priceVersions.id, [...since.ids])) : after;
  return (await query.where(where).orderBy(asc(priceVersions.id))).map(priceFromRow);
}

/** Each (provider, model)'s version in effect at `at` (latest effective_from ≤ at, then highest version). */
export async function pricesInEffect(db: DbOrTx, at: Date, providerId?: string): Promise<PricedVersion[]> {
  const provider = providerId === undefined ? sql`` : sql`AND provider_id = ${providerId}`;
  const result = await db.execute(sql`
    SELECT DISTINCT ON (provider_id, model) id FROM price_versions
    WHERE effective_from <= ${at.toISOString()}::timestamptz ${provider}
    ORDER BY provider_id, model, effective_from DESC, version DESC`);
  const ids = (result.rows as { id: bigint }[]).map((row) => row.id);
  if (ids.length === 0) return [];
  const rows = await db.select().from(priceVersions).where(inArray(priceVersions.id, ids));
  return rows
    .map(priceFromRow)
    .sort((a, b) => a.providerId.localeCompare(b.providerId) || a.model.localeCompare(b.model));
}

export async function countPriceVersions(db: DbOrTx): Promise<bigint> {
  const result = await db.execute(sql`SELECT count(*)::bigint AS n FROM price_versions`);
  return (result.rows[0] as { n: bigint }).n;
}
