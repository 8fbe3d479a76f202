import { type BenchLine, detailOf } from "./result";

/** What became of one bench: its lines, or why there are none. Never dropped from the table. */
export type BenchOutcome = { file: string; title: string; seconds: number } & (
  | { status: "ok"; lines: BenchLine[] }
  | { status: "failed" | "overran" | "missing" | "skipped"; message: string }
);

export interface TableRow {
  row: string;
  path: string;
  heidrun: string;
  baseline: string;
  ratio: string;
  unit: string;
  goal: string;
  result: string;
  notes: string;
}

const COLUMNS: [keyof TableRow, string][] = [
  ["row", "Row"],
  ["path", "Path"],
  ["heidrun", "Heidrun"],
  ["baseline", "Baseline"],
  ["ratio", "Ratio"],
  ["unit", "Unit"],
  ["goal", "Goal"],
  ["result", "Result"],
];

export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function tableRows(outcomes: readonly BenchOutcome[]): TableRow[] {
  return outcomes.flatMap((outcome): TableRow[] => {
    if (outcome.status !== "ok") {
      const label = { failed: "CRASHED", overran: "OVERRAN", missing: "MISSING", skipped: "SKIPPED" }[
        outcome.status
      ];
      return [
        {
          row: outcome.title,
          path: outcome.file,
          heidrun: "—",
          baseline: "—",
          ratio: "—",
          unit: "",
          goal: "",
          result: label,
          notes: outcome.message,
        },
      ];
    }
    return outcome.lines.map((line) => ({
      row: outcome.title,
      path: line.path,
      heidrun: formatNumber(line.heidrun),
      baseline: formatNumber(line.baseline),
      ratio: line.ratio === null || line.ratio === undefined ? "—" : `${line.ratio.toFixed(2)}×`,
      unit: line.unit,
      goal: line.goal,
      result: line.pass ? "pass" : "FAIL",
      notes: detailOf(line),
    }));
  });
}

/** An aligned plain-text table, then the notes of each row that has any. */
export function renderText(rows: readonly TableRow[]): string {
  const widths = COLUMNS.map(([key, title]) => Math.max(title.length, ...rows.map((row) => row[key].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const out = [
    line(COLUMNS.map(([, title]) => title)),
    line(widths.map((width) => "-".repeat(width))),
    ...rows.map((row) => line(COLUMNS.map(([key]) => row[key]))),
  ];
  const notes = rows.filter((row) => row.notes).map((row) => `  ${row.path}: ${row.notes}`);
  if (notes.length) out.push("", "Notes:", ...notes);
  return out.join("\n");
}

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

/** A Markdown table with padded columns, as the repository's formatter (biome) writes them. */
export function markdownTable(header: readonly string[], body: readonly (readonly string[])[]): string {
  const rows = [header, ...body].map((cells) => cells.map(cell));
  const widths = header.map((_, i) => Math.max(3, ...rows.map((cells) => [...(cells[i] ?? "")].length)));
  const pad = (text: string, i: number) => text + " ".repeat(widths[i]! - [...text].length);
  const line = (cells: readonly string[]) => `| ${cells.map(pad).join(" | ")} |`;
  const [head, ...rest] = rows;
  return [line(head!), line(widths.map((width) => "-".repeat(width))), ...rest.map(line)].join("\n");
}

export function renderMarkdown(rows: readonly TableRow[]): string {
  const columns: [keyof TableRow, string][] = [...COLUMNS, ["notes", "Notes"]];
  return markdownTable(
    columns.map(([, title]) => title),
    rows.map((row) => columns.map(([key]) => row[key])),
  );
}
