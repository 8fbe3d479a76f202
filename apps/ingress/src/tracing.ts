import {
  type Metadata,
  type MethodDefinition,
  type Server,
  type ServiceDefinition,
  type sendUnaryData,
  status,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { injectTraceCarrier, tracer, tracingEnabled } from "@heidrun/observability";
import type { AnyJob, SettlementProducer } from "@heidrun/queue";
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import type { IngressDeps } from "./context";

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key).filter((value): value is string => typeof value === "string");
    return values.length === 0 ? undefined : values;
  },
};

/** Server-side codes that mean the server failed (OpenTelemetry's gRPC conventions); the rest are the caller's. */
const SERVER_FAULTS: ReadonlySet<number> = new Set([
  status.UNKNOWN,
  status.DEADLINE_EXCEEDED,
  status.UNIMPLEMENTED,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

type UnaryCall = { metadata: Metadata };

function traceUnary(path: string, original: UntypedHandleCall): UntypedHandleCall {
  const fullName = path.slice(1);
  const [service = "", method = ""] = fullName.split("/");
  return ((call: UnaryCall, callback: sendUnaryData<unknown>) => {
    // The caller's `traceparent` (and `tracestate`) metadata continues its trace; without one a new trace starts.
    const parent = propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
    const span = tracer().startSpan(
      fullName,
      {
        kind: SpanKind.SERVER,
        attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method },
      },
      parent,
    );
    const ended: sendUnaryData<unknown> = (error, ...rest) => {
      const code = error ? (error.code ?? status.UNKNOWN) : status.OK;
      span.setAttribute("rpc.grpc.status_code", code);
      if (SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: error?.details });
      span.end();
      return callback(error, ...rest);
    };
    // The handler and everything it awaits run inside the span: logs, queries and queued jobs see it.
    context.with(trace.setSpan(parent, span), () =>
      (original as (call: UnaryCall, callback: sendUnaryData<unknown>) => void)(call, ended),
    );
  }) as UntypedHandleCall;
}

/**
 * An `addService` that gives every unary call a server span (when tracing is on), continuing the caller's
 * W3C trace context from its metadata.
 */
export function traceCalls(server: Pick<Server, "addService">): Pick<Server, "addService"> {
  if (!tracingEnabled()) return server;
  return {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      const wrapped: UntypedServiceImplementation = { ...implementation };
      for (const [name, method] of Object.entries(definition) as [
        string,
        MethodDefinition<unknown, unknown>,
      ][]) {
        const original = implementation[name];
        if (!original || method.requestStream || method.responseStream) continue;
        wrapped[name] = traceUnary(method.path, original);
      }
      server.addService(definition, wrapped);
    },
  };
}

function withTrace<J extends AnyJob>(job: J): J {
  if (job.data.trace) return job;
  const carrier = injectTraceCarrier();
  return carrier ? ({ ...job, data: { ...job.data, trace: carrier } } as J) : job;
}

/**
 * The deps with a producer that writes the calling span's trace context into each job's `trace` field (unless
 * the handler set one), so the worker can link its settlement to the call that queued the usage.
 */
export function traceJobs(deps: IngressDeps): IngressDeps {
  const producer = deps.producer as SettlementProducer | undefined;
  if (!tracingEnabled() || !producer) return deps;
  const traced = new Proxy(producer, {
    get(target, property) {
      if (property === "enqueue") {
        return (items: Parameters<SettlementProducer["enqueue"]>[0]) =>
          target.enqueue(items.map((item) => ({ ...item, job: withTrace(item.job) })));
      }
      if (property === "enqueueWithoutWindow") {
        return (jobs: Parameters<SettlementProducer["enqueueWithoutWindow"]>[0]) =>
          target.enqueueWithoutWindow(jobs.map((entry) => ({ ...entry, job: withTrace(entry.job) })));
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { ...deps, producer: traced };
}
