import { Writable } from "node:stream";
import { context, ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "./logger";
import {
  extractTraceContext,
  injectTraceCarrier,
  linksFromCarriers,
  startTracing,
  type Tracing,
  tracer,
  tracingEnabled,
} from "./tracing";

const INCOMING = {
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  tracestate: "vendor=opaque",
};

describe("tracing off (no endpoint)", () => {
  it("registers nothing and puts no carrier into jobs", () => {
    const off = startTracing({ serviceName: "test" });
    expect({ enabled: off.enabled, global: tracingEnabled() }).toEqual({ enabled: false, global: false });
    const span = tracer().startSpan("x");
    expect(span.isRecording()).toBe(false);
    expect(context.with(trace.setSpan(context.active(), span), () => injectTraceCarrier())).toBeUndefined();
    span.end();
  });
});

describe("tracing on", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  beforeAll(() => {
    tracing = startTracing({ serviceName: "heidrun-test", exporter });
  });
  afterAll(() => tracing.shutdown());

  it("continues a W3C carrier and writes the active span back into one", () => {
    const parent = extractTraceContext(INCOMING);
    const carrier = tracer().startActiveSpan("call", { kind: SpanKind.SERVER }, parent, (span) => {
      const inner = injectTraceCarrier();
      span.end();
      return { inner, spanId: span.spanContext().spanId };
    });
    expect(carrier.inner).toEqual({
      traceparent: `00-0af7651916cd43dd8448eb211c80319c-${carrier.spanId}-01`,
      tracestate: "vendor=opaque",
    });
    const [finished] = exporter.getFinishedSpans().filter((s) => s.name === "call");
    expect({
      traceId: finished?.spanContext().traceId,
      parent: finished?.parentSpanContext?.spanId,
      service: finished?.resource.attributes["service.name"],
    }).toEqual({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      parent: "b7ad6b7169203331",
      service: "heidrun-test",
    });
  });

  it("has no carrier outside a span, and reads a missing or malformed one as the root", () => {
    expect(context.with(ROOT_CONTEXT, () => injectTraceCarrier())).toBeUndefined();
    expect(extractTraceContext(undefined)).toBe(ROOT_CONTEXT);
    expect(trace.getSpanContext(extractTraceContext({ traceparent: "garbage" }))).toBeUndefined();
  });

  it("links a batch to each distinct job context, skipping jobs without one", () => {
    const other = { traceparent: "00-11111111111111111111111111111111-2222222222222222-01" };
    const links = linksFromCarriers([INCOMING, undefined, other, INCOMING, { traceparent: "bad" }]);
    expect(links.map((link) => `${link.context.traceId}/${link.context.spanId}`)).toEqual([
      "0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331",
      "11111111111111111111111111111111/2222222222222222",
    ]);
  });

  it("puts trace_id and span_id on log lines written inside a span, and none outside", () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const log = createLogger({ name: "test", destination });
    const ids = tracer().startActiveSpan("logged", (span) => {
      log.info("inside");
      span.end();
      return span.spanContext();
    });
    log.info("outside");
    expect(lines.map(({ msg, trace_id, span_id }) => ({ msg, trace_id, span_id }))).toEqual([
      { msg: "inside", trace_id: ids.traceId, span_id: ids.spanId },
      { msg: "outside", trace_id: undefined, span_id: undefined },
    ]);
  });

  it("refuses a second registration in the same process", () => {
    expect(() => startTracing({ serviceName: "again", exporter })).toThrow(
      "tracing is already started in this process",
    );
  });
});
