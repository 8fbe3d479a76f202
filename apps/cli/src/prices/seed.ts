import { createDb, createPool, EXAMPLE_CATALOG_PATH, seedExampleCatalogIfEmpty } from "@heidrun/db";

/**
 * `heidrun start` on a fresh database: loads config/prices.example.json so quotes work out of the box.
 * Returns a line to print, or undefined when the catalog already had prices.
 */
export async function seedPricesOnStart(databaseUrl: string, currency: string): Promise<string | undefined> {
  const pool = createPool(databaseUrl, { max: 2, applicationName: "heidrun-start" });
  try {
    const report = await seedExampleCatalogIfEmpty(createDb(pool), { actor: "heidrun-start", currency });
    if (report === undefined) return undefined;
    const skipped = report.skipped > 0 ? `, ${report.skipped} skipped` : "";
    return `heidrun: price catalog was empty: loaded ${report.created} example prices from ${EXAMPLE_CATALOG_PATH}${skipped}`;
  } finally {
    await pool.end();
  }
}
