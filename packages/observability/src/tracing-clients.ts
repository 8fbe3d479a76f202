import { context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { tracer } from "./tracing";

/*
 * Child spans for PostgreSQL and Redis calls. The OpenTelemetry instrumentations for pg and ioredis patch
 * modules as they are `require`d; this code base imports them as ESM before tracing can start, so they
 * never see them (checked with @opentelemetry/instrumentation-pg 0.76 and -ioredis 0.71 under tsx). These
 * wrap the instances instead: no loader hook, and only the pool and connections handed in are touched.
 * A span is made only inside an active recording span, so health pings and idle polling make none.
 */

const MAX_STATEMENT_CHARS = 2000;

function parentIsRecording(): boolean {
  return trace.getSpan(context.active())?.isRecording() === true;
}

function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
  }
  span.end();
}

type QueryFn = (...args: unknown[]) => unknown;
interface QueryableClient {
  query: QueryFn;
}
/** What a pg.Pool offers for this; structural, so this package needs no pg dependency. */
export interface TraceablePool {
  on(event: "connect", listener: (client: QueryableClient) => void): unknown;
}

function statementOf(first: unknown): string | undefined {
  if (typeof first === "string") return first;
  const text = (first as { text?: unknown } | null)?.text;
  return typeof text === "string" ? text : undefined;
}

const traced = new WeakSet<object>();

function traceClient(client: QueryableClient): void {
  if (traced.has(client)) return;
  traced.add(client);
  const query = client.query;
  client.query = function tracedQuery(this: unknown, ...args: unknown[]) {
    const first = args[0];
    const statement = statementOf(first);
    // Submittables (cursors, streams) report through events: left untraced.
    const submittable = typeof (first as { submit?: unknown } | null)?.submit === "function";
    if (statement === undefined || submittable || !parentIsRecording()) return query.apply(this, args);
    const operation = /^\s*(\w+)/.exec(statement)?.[1]?.toUpperCase() ?? "QUERY";
    const span = tracer().startSpan(`pg.query:${operation}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        "db.system.name": "postgresql",
        "db.operation.name": operation,
        "db.query.text": statement.slice(0, MAX_STATEMENT_CHARS),
      },
    });
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === "function") {
      // pg-pool's pool.query uses the callback form.
      args[last] = (error: unknown, ...rest: unknown[]) => {
        endSpan(span, error ?? undefined);
        return callback(error, ...rest);
      };
      return query.apply(this, args);
    }
    const result = query.apply(this, args);
    if (typeof (result as Promise<unknown> | undefined)?.then !== "function") {
      endSpan(span);
      return result;
    }
    (result as Promise<unknown>).then(
      () => endSpan(span),
      (error: unknown) => endSpan(span, error),
    );
    return result;
  };
}

/** Traces every query of every connection the pool opens from now on (call it right after creating the pool). */
export function tracePgPool(pool: TraceablePool): void {
  pool.on("connect", traceClient);
}

interface RedisCommand {
  name: string;
  promise: Promise<unknown>;
}
/** What an ioredis client offers for this (structural: no ioredis dependency here). */
export interface TraceableRedis {
  sendCommand(command: RedisCommand, ...rest: unknown[]): unknown;
}

/** Traces each command sent through this connection, pipelines and BullMQ's scripts included. */
export function traceRedis(redis: TraceableRedis): void {
  if (traced.has(redis)) return;
  traced.add(redis);
  const send = redis.sendCommand;
  // A command queued while offline passes here twice; it gets one span.
  const seen = new WeakSet<RedisCommand>();
  redis.sendCommand = function tracedSendCommand(this: unknown, command: RedisCommand, ...rest: unknown[]) {
    if (seen.has(command) || !parentIsRecording()) return send.call(this, command, ...rest);
    seen.add(command);
    const span = tracer().startSpan(`redis.${command.name}`, {
      kind: SpanKind.CLIENT,
      attributes: { "db.system.name": "redis", "db.operation.name": command.name },
    });
    command.promise.then(
      () => endSpan(span),
      (error: unknown) => endSpan(span, error),
    );
    return send.call(this, command, ...rest);
  };
}
