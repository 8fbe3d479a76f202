import {
  type CallOptions,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import { type ApiKey, configStoreFor } from "@heidrun/config";
import { createDb, createPool } from "@heidrun/db";
import { createRegistry, type Logger, silentLogger } from "@heidrun/observability";
import {
  AccountServiceClient,
  PreAuthServiceClient,
  PricingServiceClient,
  SettlementServiceClient,
  TokenServiceClient,
} from "@heidrun/proto";
import { createRedis } from "@heidrun/queue";
import type { IngressDeps } from "./context";
import { createIngress, type Ingress } from "./server";

/** Health only needs `SELECT 1`, so tests use the server's maintenance database. */
export const TEST_DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const TEST_REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export const YGGDRASIL_KEY: ApiKey = { id: "ygg00001", key: "yggdrasil-test-key-0001", scope: "yggdrasil" };
export const ADMIN_KEY: ApiKey = { id: "adm00001", key: "admin-test-key-00000001", scope: "admin" };

export interface TestIngressOptions {
  apiKeys?: ApiKey[];
  redisUrl?: string;
  settings?: Record<string, unknown>;
  handlerOverrides?: IngressDeps["handlerOverrides"];
  log?: Logger;
}

export interface TestIngress {
  ingress: Ingress;
  deps: IngressDeps;
  address: string;
  clients: {
    token: TokenServiceClient;
    pricing: PricingServiceClient;
    settlement: SettlementServiceClient;
    preauth: PreAuthServiceClient;
    account: AccountServiceClient;
  };
  /** Stops the ingress (if still running), closes the clients and what the deps opened. */
  close(): Promise<void>;
}

export async function startTestIngress(options: TestIngressOptions = {}): Promise<TestIngress> {
  const config = configStoreFor(
    { databaseUrl: TEST_DATABASE_URL, redisUrl: options.redisUrl ?? TEST_REDIS_URL },
    { ingress: { healthCheckIntervalMs: 100, shutdownGraceMs: 5000 }, ...options.settings },
    {
      dashboardAddr: "127.0.0.1:3000",
      services: "auto",
      apiKeys: options.apiKeys ?? [YGGDRASIL_KEY, ADMIN_KEY],
    },
  );
  const pool = createPool(TEST_DATABASE_URL, { max: 2, applicationName: "heidrun-ingress-test" });
  // Reconnect quickly, so a test that restarts Redis sees it back soon.
  const redis = createRedis(config.current().redisUrl, "producer", { retryStrategy: () => 50 });
  // Handlers that other packages implement get their collaborators from their own tests; here only the
  // adapter, auth, validation, limits, health and reflection are under test.
  const deps = {
    config,
    log: options.log ?? silentLogger(),
    registry: createRegistry(),
    pool,
    db: createDb(pool),
    redis,
    ...(options.handlerOverrides ? { handlerOverrides: options.handlerOverrides } : {}),
  } as IngressDeps;
  const ingress = createIngress(deps);
  const { port } = await ingress.start("127.0.0.1:0");
  const address = `127.0.0.1:${port}`;
  const insecure = credentials.createInsecure();
  const clients = {
    token: new TokenServiceClient(address, insecure),
    pricing: new PricingServiceClient(address, insecure),
    settlement: new SettlementServiceClient(address, insecure),
    preauth: new PreAuthServiceClient(address, insecure),
    account: new AccountServiceClient(address, insecure),
  };
  let stopped = false;
  return {
    ingress,
    deps,
    address,
    clients,
    async close() {
      for (const client of Object.values(clients)) client.close();
      if (!stopped) await ingress.stop();
      stopped = true;
      await pool.end();
      redis.disconnect();
    },
  };
}

export function bearer(key: ApiKey | string | undefined): Metadata {
  const metadata = new Metadata();
  if (key !== undefined) metadata.set("authorization", `Bearer ${typeof key === "string" ? key : key.key}`);
  return metadata;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** Calls a generated client method as a promise; rejects with the ServiceError. */
export function unary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  metadata: Metadata = bearer(ADMIN_KEY),
  options: Partial<CallOptions> = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(request, metadata, options, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

/** The ServiceError a call failed with; fails the test when the call succeeded. */
export async function failure(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail, it succeeded");
}
