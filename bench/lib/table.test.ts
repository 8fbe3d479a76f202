import { describe, expect, it } from "vitest";
import { toLines } from "./result";
import { formatNumber, markdownTable, renderText, tableRows } from "./table";

describe("bench table", () => {
  it("keeps a bench that produced nothing as a row that says why", () => {
    const rows = tableRows([
      {
        file: "a.bench.ts",
        title: "A",
        seconds: 1.5,
        status: "ok",
        lines: toLines({
          path: "a/x",
          heidrun: 1234.4,
          baseline: 2000,
          ratio: 0.617,
          unit: "ops/s",
          goal: 3,
          pass: false,
        }),
      },
      {
        file: "b.bench.ts",
        title: "B",
        seconds: 60,
        status: "overran",
        message: "killed after its budget of 60 s",
      },
      {
        file: "c.bench.ts",
        title: "C",
        seconds: 0,
        status: "missing",
        message: "bench/c.bench.ts does not exist",
      },
    ]);
    expect(rows.map((row) => [row.row, row.heidrun, row.baseline, row.ratio, row.goal, row.result])).toEqual([
      ["A", "1,234", "2,000", "0.62×", "3", "FAIL"],
      ["B", "—", "—", "—", "", "OVERRAN"],
      ["C", "—", "—", "—", "", "MISSING"],
    ]);
    expect(renderText(rows)).toContain("  c.bench.ts: bench/c.bench.ts does not exist");
  });

  it("refuses a result without the shared fields", () => {
    expect(() => toLines([{ path: "x", heidrun: 1 }])).toThrow(
      /result 0 lacks path\/heidrun\/unit\/goal\/pass/,
    );
  });

  it("formats numbers by magnitude", () => {
    expect([12_345.6, 427.1, 41.52, 3.756, null].map(formatNumber)).toEqual([
      "12,346",
      "427",
      "41.5",
      "3.76",
      "—",
    ]);
  });

  it("pads Markdown columns as the formatter does and escapes pipes", () => {
    expect(markdownTable(["Row", "µs"], [["a|b", "1.60×"]])).toBe(
      ["| Row  | µs    |", "| ---- | ----- |", "| a\\|b | 1.60× |"].join("\n"),
    );
  });
});
