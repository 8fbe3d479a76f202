import { Counter, Histogram, LATENCY_BUCKETS, type Registry } from "@heidrun/observability";

export interface RpcMetrics {
  /** Finished calls by full method name (`heidrun.v1.TokenService/TrackTokens`) and gRPC status name. */
  calls: Counter<"method" | "code">;
  /** Handling time in seconds, from the call's arrival to its answer, by method. */
  latency: Histogram<"method">;
}

const CALLS = "heidrun_grpc_server_handled_total";
const LATENCY = "heidrun_grpc_server_handling_seconds";

/** Idempotent per registry, so several ingresses (tests) can share one registry. */
export function createRpcMetrics(registry: Registry): RpcMetrics {
  const calls =
    (registry.getSingleMetric(CALLS) as Counter<"method" | "code"> | undefined) ??
    new Counter({
      name: CALLS,
      help: "gRPC calls finished by the ingress, by method and status code",
      labelNames: ["method", "code"],
      registers: [registry],
    });
  const latency =
    (registry.getSingleMetric(LATENCY) as Histogram<"method"> | undefined) ??
    new Histogram({
      name: LATENCY,
      help: "Time the ingress took to answer a gRPC call, in seconds",
      labelNames: ["method"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  return { calls, latency };
}
