import {
  type Attributes,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { extractTraceContext, type TraceCarrier, tracer, tracingEnabled } from "./tracing";

function fail(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
}

/**
 * Spans for work that arrives as jobs and is done in batches (the settlement worker):
 * - `job`: one CONSUMER span per job, a child of the trace context the job carries (the call that queued it),
 *   lasting until the job's own result is in;
 * - `batch`: one span per batch (its database transaction), a new root linked to the span of every job in it,
 *   so each caller's trace leads to the batch and the batch names all of them.
 * Off (a plain call) when tracing is not started.
 */
export class BatchTracing<Item extends object> {
  readonly #jobSpans = new WeakMap<Item, SpanContext>();

  async job<R>(
    name: string,
    carrier: TraceCarrier | undefined,
    item: Item,
    run: (item: Item) => Promise<R>,
    attributes: Attributes = {},
  ): Promise<R> {
    if (!tracingEnabled()) return run(item);
    const span = tracer().startSpan(
      name,
      { kind: SpanKind.CONSUMER, attributes },
      extractTraceContext(carrier),
    );
    this.#jobSpans.set(item, span.spanContext());
    try {
      return await context.with(trace.setSpan(ROOT_CONTEXT, span), () => run(item));
    } catch (error) {
      fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  async batch<R>(name: string, items: readonly Item[], run: () => Promise<R>): Promise<R> {
    if (!tracingEnabled()) return run();
    const links: Link[] = [];
    for (const item of items) {
      const linked = this.#jobSpans.get(item);
      if (linked) links.push({ context: linked });
    }
    // A root of its own: whichever job's context the flush happened to start in is not its parent.
    const span = tracer().startSpan(
      name,
      { links, attributes: { "batch.size": items.length } },
      ROOT_CONTEXT,
    );
    try {
      return await context.with(trace.setSpan(ROOT_CONTEXT, span), run);
    } catch (error) {
      fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  }
}
