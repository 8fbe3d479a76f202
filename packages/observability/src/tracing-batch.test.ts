import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { injectTraceCarrier, startTracing, tracer } from "./tracing";
import { BatchTracing } from "./tracing-batch";

const A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const carrier = (trace: string, span: string) => ({ traceparent: `00-${trace}-${span}-01` });

/** Jobs wait for their batch, as the worker's processors wait for the batcher. */
function batcher(tracing: BatchTracing<{ id: string }>, flush: () => Promise<string>) {
  const waiting: Array<{ item: { id: string }; done: (value: string) => void }> = [];
  return {
    add: (item: { id: string }) => new Promise<string>((done) => waiting.push({ item, done })),
    async flush() {
      const batch = waiting.splice(0);
      const result = await tracing.batch(
        "settle batch",
        batch.map((w) => w.item),
        flush,
      );
      for (const w of batch) w.done(result);
    },
  };
}

describe("BatchTracing", () => {
  it("just runs the work when tracing is off", async () => {
    const tracing = new BatchTracing<{ id: string }>();
    const b = batcher(tracing, async () => (injectTraceCarrier() === undefined ? "untraced" : "traced"));
    const job = tracing.job("settle", carrier(A, "1111111111111111"), { id: "1" }, (item) => b.add(item));
    await b.flush();
    expect(await job).toBe("untraced");
  });

  it("makes a job span per carrier and a batch span linked to them, parenting the batch's work", async () => {
    const exporter = new InMemorySpanExporter();
    const started = startTracing({ serviceName: "test", exporter });
    try {
      const tracing = new BatchTracing<{ id: string }>();
      const b = batcher(tracing, async () => {
        tracer().startSpan("pg.query:COMMIT").end();
        return "ok";
      });
      const jobs = [
        tracing.job("settle a", carrier(A, "1111111111111111"), { id: "a" }, (item) => b.add(item)),
        tracing.job("settle b", carrier(B, "2222222222222222"), { id: "b" }, (item) => b.add(item)),
      ];
      await b.flush();
      expect(await Promise.all(jobs)).toEqual(["ok", "ok"]);

      const spans = exporter.getFinishedSpans();
      const named = (name: string) => spans.find((span) => span.name === name)!;
      const [a, bSpan, batch, query] = ["settle a", "settle b", "settle batch", "pg.query:COMMIT"].map(named);
      expect(
        [a!, bSpan!].map((span) => ({
          trace: span.spanContext().traceId,
          parent: span.parentSpanContext?.spanId,
          kind: span.kind,
        })),
      ).toEqual([
        { trace: A, parent: "1111111111111111", kind: SpanKind.CONSUMER },
        { trace: B, parent: "2222222222222222", kind: SpanKind.CONSUMER },
      ]);
      expect({
        root: batch!.parentSpanContext === undefined,
        links: batch!.links.map((link) => link.context.spanId),
        size: batch!.attributes["batch.size"],
        queryParent: query!.parentSpanContext?.spanId,
      }).toEqual({
        root: true,
        links: [a!.spanContext().spanId, bSpan!.spanContext().spanId],
        size: 2,
        queryParent: batch!.spanContext().spanId,
      });
    } finally {
      await started.shutdown();
    }
  });

  it("marks a failed batch and the jobs that saw it fail", async () => {
    const exporter = new InMemorySpanExporter();
    const started = startTracing({ serviceName: "test", exporter });
    try {
      const tracing = new BatchTracing<{ id: string }>();
      const failing = { id: "x" };
      const job = tracing.job("settle x", undefined, failing, () =>
        tracing.batch("settle batch", [failing], async () => {
          throw new Error("database went away");
        }),
      );
      await expect(job).rejects.toThrow("database went away");
      expect(exporter.getFinishedSpans().map((span) => ({ name: span.name, status: span.status }))).toEqual([
        { name: "settle batch", status: { code: SpanStatusCode.ERROR, message: "database went away" } },
        { name: "settle x", status: { code: SpanStatusCode.ERROR, message: "database went away" } },
      ]);
    } finally {
      await started.shutdown();
    }
  });
});
