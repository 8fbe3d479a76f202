/**
 * A gRPC server in a process of its own, so its CPU time is its own: `process.cpuUsage()` over IPC on
 * `{type: "cpu"}`. Options (argv JSON, see ipc.ts): {mode, databaseUrl?, redisUrl?, prefix?, apiKey?, logLevel?}:
 *   - mode "heidrun": the real ingress (createIngressDeps + createIngress: auth, validation, metrics, per-call
 *     log line, price cache) on the given database and queue prefix;
 *   - mode "echo": a bare grpc-js server with the same PricingService definition whose CalculatePricing
 *     answers a fixed quote carrying the caller's request id: the floor grpc-js and protobuf set.
 * Sends `{type: "listening", port}`, answers `{type: "cpu", user, system}`, exits on `{type: "stop"}`.
 */
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import { configStoreFor, parseEnv } from "@heidrun/config";
import { createIngress, createIngressDeps } from "@heidrun/ingress";
import {
  type CalculatePricingRequest,
  type CalculatePricingResponse,
  PricingServiceService,
} from "@heidrun/proto";
import { childOptions, onParentMessage, sendToParent } from "./ipc";

export const GRPC_SERVER = fileURLToPath(import.meta.url);

export interface GrpcServerOptions {
  mode: "heidrun" | "echo";
  databaseUrl?: string;
  redisUrl?: string;
  prefix?: string;
  /** A yggdrasil-scope key the load generator presents (auth on, as in production). */
  apiKey?: string;
  logLevel?: string;
}

/** gpt-4o at $2.50 / $10 / $1.25 per Mtok from 2025-01-01: what the bench seeds and the echo mimics. */
export const BENCH_PRICE = {
  providerId: "openai",
  model: "gpt-4o",
  inputMicrosPerMtok: 2_500_000n,
  outputMicrosPerMtok: 10_000_000n,
  cachedInputMicrosPerMtok: 1_250_000n,
  effectiveFrom: new Date("2025-01-01T00:00:00.000Z"),
};

/** The quote Heidrun gives for the load generator's usage (same fields, same sizes on the wire). */
function echoQuote(requestId: string): CalculatePricingResponse {
  return {
    requestId,
    totalCostMicros: 262_553n,
    inputCostMicros: 58_642n,
    outputCostMicros: 78_910n,
    cachedInputCostMicros: 125_000n,
    cacheWriteCostMicros: 0n,
    roundingMicros: 1n,
    price: { ...BENCH_PRICE, version: 1n, currency: "USD", cacheWriteMicrosPerMtok: undefined, tiers: [] },
  };
}

async function startEcho(): Promise<{ port: number; stop(): Promise<void> }> {
  const server = new Server();
  server.addService(PricingServiceService, {
    calculatePricing(
      call: ServerUnaryCall<CalculatePricingRequest, CalculatePricingResponse>,
      callback: sendUnaryData<CalculatePricingResponse>,
    ) {
      callback(null, echoQuote(call.request.requestId));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { port, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

async function startHeidrun(options: GrpcServerOptions): Promise<{ port: number; stop(): Promise<void> }> {
  // The options are strings as the environment gives them: parsed, defaulted and checked as loadConfig does.
  const env = parseEnv({
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    HEIDRUN_API_KEYS: options.apiKey ? `${options.apiKey}=yggdrasil` : undefined,
    HEIDRUN_LOG_LEVEL: options.logLevel ?? "info",
  });
  const config = configStoreFor(
    { databaseUrl: env.DATABASE_URL, redisUrl: env.REDIS_URL },
    { queue: { prefix: options.prefix }, metrics: { ingressPort: 0 } },
    {
      grpcAddr: env.HEIDRUN_GRPC_ADDR,
      dashboardAddr: env.HEIDRUN_DASHBOARD_ADDR,
      services: env.HEIDRUN_SERVICES,
      apiKeys: env.HEIDRUN_API_KEYS,
      logLevel: env.HEIDRUN_LOG_LEVEL,
      servicesFromEnvironment: Boolean(options.databaseUrl || options.redisUrl),
    },
  );
  const owned = createIngressDeps(config);
  await owned.start();
  const ingress = createIngress(owned.deps);
  const { port } = await ingress.start("127.0.0.1:0");
  return {
    port,
    async stop() {
      await ingress.stop();
      await owned.close();
    },
  };
}

async function main(): Promise<void> {
  const options = childOptions<GrpcServerOptions>();
  const server = options.mode === "heidrun" ? await startHeidrun(options) : await startEcho();
  onParentMessage(async (message) => {
    if (message.type === "cpu") sendToParent({ type: "cpu", ...process.cpuUsage() });
    if (message.type === "stop") {
      await server.stop();
      process.exit(0);
    }
  });
  sendToParent({ type: "listening", port: server.port });
}

if (process.argv[1] === GRPC_SERVER) {
  main().catch((error: unknown) => {
    process.stderr.write(`grpc server: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
