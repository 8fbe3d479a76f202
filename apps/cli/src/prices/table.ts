import { formatMicrosAsDecimal, formatMicrosAsUsd } from "@heidrun/core";
import type { ImportReport, PricedVersion } from "@heidrun/db";

/** Left-aligned columns, two spaces apart, header first. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[header, ...rows].map(line).join("\n")}\n`;
}

/** A price per 1M tokens for people: `$0.15` (USD) or `0.15 EUR`; `-` when unset. */
export function perMtok(micros: bigint | null | undefined, currency: string): string {
  if (micros === null || micros === undefined) return "-";
  return currency === "USD" ? formatMicrosAsUsd(micros) : `${formatMicrosAsDecimal(micros)} ${currency}`;
}

function tiersText(price: PricedVersion): string {
  if (price.tiers.length === 0) return "-";
  return price.tiers
    .map((tier) => {
      const kinds = [
        tier.input != null ? `in ${perMtok(tier.input, price.currency)}` : undefined,
        tier.output != null ? `out ${perMtok(tier.output, price.currency)}` : undefined,
        tier.cachedInput != null ? `cached ${perMtok(tier.cachedInput, price.currency)}` : undefined,
        tier.cacheWrite != null ? `write ${perMtok(tier.cacheWrite, price.currency)}` : undefined,
      ].filter((part) => part !== undefined);
      return `>${tier.aboveInputTokens}: ${kinds.join(" ")}`;
    })
    .join("; ");
}

/** The catalog as `heidrun prices list` prints it: prices per 1M tokens. */
export function priceTable(prices: readonly PricedVersion[]): string {
  return table(
    ["PROVIDER", "MODEL", "VERSION", "INPUT", "OUTPUT", "CACHED", "CACHE WRITE", "EFFECTIVE FROM", "TIERS"],
    prices.map((price) => [
      price.providerId,
      price.model,
      price.version.toString(),
      perMtok(price.inputMicrosPerMtok, price.currency),
      perMtok(price.outputMicrosPerMtok, price.currency),
      perMtok(price.cachedInputMicrosPerMtok, price.currency),
      perMtok(price.cacheWriteMicrosPerMtok, price.currency),
      price.effectiveFrom.toISOString(),
      tiersText(price),
    ]),
  );
}

/** Each created and skipped entry with its reason, then the counts. Unchanged entries are only counted. */
export function importReportText(report: ImportReport, file: string, provider: string | undefined): string {
  const created = report.dryRun ? "would create" : "created";
  const entries = [
    ...report.outcomes.filter((outcome) => outcome.status === "created"),
    ...report.outcomes.filter((outcome) => outcome.status === "skipped"),
  ].map((outcome) => [
    outcome.status === "created" ? created : outcome.status,
    outcome.label,
    outcome.status === "created" && outcome.version !== undefined
      ? `version ${outcome.version}`
      : (outcome.reason ?? ""),
  ]);
  const counts = [
    [created, String(report.created)],
    ["unchanged", String(report.unchanged)],
    ["skipped", String(report.skipped)],
  ];
  if (provider !== undefined) counts.push([`other providers than ${provider}`, String(report.ignored)]);
  const title = `${file} (${report.format})${report.dryRun ? ": dry run, nothing written" : ""}\n\n`;
  const details = entries.length > 0 ? `${table(["RESULT", "PRICE", "DETAIL"], entries)}\n` : "";
  return `${title}${details}${table(["SUMMARY", "PRICES"], counts)}`;
}
