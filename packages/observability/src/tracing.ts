import {
  type Context,
  context,
  isSpanContextValid,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type SpanContext,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

/** The W3C trace context as it travels in job payloads: `{ traceparent, tracestate? }`. */
export type TraceCarrier = Record<string, string>;

export interface TracingOptions {
  /** `service.name` of every span, e.g. "heidrun-ingress". */
  serviceName: string;
  /** OTLP/HTTP traces endpoint; without it (and without `exporter`) tracing stays off. */
  otlpEndpoint?: string | undefined;
  headers?: Record<string, string>;
  /** Share of root traces recorded; a caller's sampled flag is followed either way. */
  sampleRatio?: number;
  /** Tests: hand every finished span to this exporter at once instead of batching to OTLP. */
  exporter?: SpanExporter;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Sends what is buffered; call before asserting on an exporter or before exit. */
  flush(): Promise<void>;
  /** Flushes and unregisters the global provider, context manager and propagator. */
  shutdown(): Promise<void>;
}

const TRACER_NAME = "heidrun";
const DISABLED: Tracing = Object.freeze({
  enabled: false,
  flush: async () => {},
  shutdown: async () => {},
});

let active: NodeTracerProvider | undefined;

/**
 * Registers the global tracer provider, the AsyncLocalStorage context manager and the W3C propagator, once
 * per process. Off (and free) unless an endpoint or exporter is given: the API then hands out no-op spans.
 */
export function startTracing(options: TracingOptions): Tracing {
  if (!options.otlpEndpoint && !options.exporter) return DISABLED;
  if (active) throw new Error("tracing is already started in this process");
  const processor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : new BatchSpanProcessor(
        new OTLPTraceExporter({ url: options.otlpEndpoint, headers: options.headers ?? {} }),
      );
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }),
    spanProcessors: [processor],
  });
  provider.register();
  active = provider;
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    async shutdown() {
      if (active !== provider) return;
      active = undefined;
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

export function tracingEnabled(): boolean {
  return active !== undefined;
}

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * The active trace context as a W3C carrier for a job payload's `trace` field; undefined when no sampled or
 * remote span is active (tracing off, or a call without one), so payloads stay as they were.
 */
export function injectTraceCarrier(from: Context = context.active()): TraceCarrier | undefined {
  const span = trace.getSpanContext(from);
  if (!span || !isSpanContextValid(span)) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(from, carrier);
  return carrier.traceparent ? carrier : undefined;
}

/** The context a carrier describes (ROOT_CONTEXT when it is missing or malformed). */
export function extractTraceContext(carrier: TraceCarrier | undefined): Context {
  return carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
}

/** A span link to each carrier's span: how a batch transaction points at every job it settles. */
export function linksFromCarriers(carriers: Iterable<TraceCarrier | undefined>): Link[] {
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const carrier of carriers) {
    const linked: SpanContext | undefined = carrier && trace.getSpanContext(extractTraceContext(carrier));
    if (!linked) continue;
    const key = `${linked.traceId}/${linked.spanId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    links.push({ context: linked });
  }
  return links;
}

/** pino mixin: every log line written while a span is active names its trace and span. */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpanContext(context.active());
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
}
