/**
 * The one shape every bench's result lines share, and how the runner reads lines that carry more.
 *
 * A bench's `run({quick})` answers one object or an array of them; each has at least `path`, `heidrun`,
 * `unit`, `goal` and `pass`. `baseline`/`ratio` are absent where there is nothing to compare with (core
 * pricing). Extra fields ride along into BENCHMARKS.md's details; the few that matter for the table's notes
 * are picked out by `detailOf`.
 */
export interface BenchLine {
  path: string;
  heidrun: number;
  baseline?: number | null;
  ratio?: number | null;
  unit: string;
  /** What passes, in words (`>= 0.5x baseline and >= 5,000/s`). */
  goal: string;
  pass: boolean;
  /** Secondary figures for the table's notes column (p99, CPU of the load generator, ...). */
  detail?: string;
  [extra: string]: unknown;
}

export function isBenchLine(value: unknown): value is BenchLine {
  if (typeof value !== "object" || value === null) return false;
  const line = value as Record<string, unknown>;
  return (
    typeof line.path === "string" &&
    typeof line.heidrun === "number" &&
    typeof line.unit === "string" &&
    (typeof line.goal === "string" || typeof line.goal === "number") &&
    typeof line.pass === "boolean"
  );
}

/** A bench's answer as lines; a malformed answer is an error of that bench, not of the runner. */
export function toLines(answer: unknown): BenchLine[] {
  const items = Array.isArray(answer) ? answer : [answer];
  return items.map((item, i) => {
    if (!isBenchLine(item)) {
      throw new Error(
        `result ${i} lacks path/heidrun/unit/goal/pass: ${JSON.stringify(item)?.slice(0, 200)}`,
      );
    }
    return { ...item, goal: String(item.goal) };
  });
}

const num = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);

/** The line's own `detail`, else a note built from the extra fields the existing benches report. */
export function detailOf(line: BenchLine): string {
  if (typeof line.detail === "string") return line.detail;
  const notes: string[] = [];
  const p99 = num(line.heidrunP99Ms);
  if (p99 !== undefined) {
    const base = num(line.baselineP99Ms);
    notes.push(`p99 ${p99} ms${base !== undefined ? ` (baseline ${base} ms)` : ""}`);
  }
  const extraMs = num(line.extraMs);
  if (extraMs !== undefined) notes.push(`+${extraMs} ms, +${num(line.extraRoundTrips) ?? "?"} round trip`);
  const audited = num(line.concurrentAuditedTxPerSecond);
  if (audited !== undefined) {
    notes.push(`8 writers: ${audited} audited tx/s vs ${num(line.concurrentBaselineTxPerSecond)} without`);
  }
  const extreme = num(line.calculateCostExtremePerSecond);
  if (extreme !== undefined) {
    notes.push(
      `extreme ${(extreme / 1e6).toFixed(2)} M/s, split ${((num(line.splitCommissionPerSecond) ?? 0) / 1e6).toFixed(2)} M/s`,
    );
  }
  const wall = num(line.wallMBps);
  if (wall !== undefined) notes.push(`wall ${wall} vs ${num(line.baselineWallMBps)} MB/s`);
  const streamOnly = num(line.streamOnlyP99);
  if (streamOnly !== undefined) notes.push(`no-count p99 ${streamOnly} ms`);
  const grpc = line.grpc as { perSecond?: number; p99Ms?: number; skipped?: string } | undefined;
  if (grpc?.perSecond !== undefined) notes.push(`via gRPC ${grpc.perSecond}/s p99 ${grpc.p99Ms} ms`);
  if (grpc?.skipped !== undefined) notes.push(`gRPC skipped: ${grpc.skipped}`);
  const jobs = num(line.jobs);
  if (jobs !== undefined) notes.push(`${jobs} jobs`);
  return notes.join("; ");
}
