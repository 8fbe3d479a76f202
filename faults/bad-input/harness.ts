import {
  type CallOptions,
  type Client,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  type ServiceDefinition,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { type ApiKey, configStoreFor } from "@heidrun/config";
import { creditAccount, setPrice } from "@heidrun/db";
import { createIngress, createIngressDeps, type Ingress, type OwnedIngressDeps } from "@heidrun/ingress";
import {
  AccountServiceService,
  PreAuthServiceService,
  PricingServiceService,
  SettlementServiceService,
  TokenServiceService,
} from "@heidrun/proto";
import { type PrivateRedis, startPrivateRedis, type TestContext } from "@heidrun/testing";
import { Redis } from "ioredis";

export const YGGDRASIL_KEY: ApiKey = { id: "ygg0bad1", key: "bad-input-yggdrasil-key-1", scope: "yggdrasil" };
export const ADMIN_KEY: ApiKey = { id: "adm0bad1", key: "bad-input-admin-key-00001", scope: "admin" };

/** The generated service definitions by the names IngressHandlers uses. */
export const SERVICES = {
  token: TokenServiceService,
  pricing: PricingServiceService,
  settlement: SettlementServiceService,
  preauth: PreAuthServiceService,
  account: AccountServiceService,
} as const;
export type ServiceName = keyof typeof SERVICES;

/** Every table Heidrun writes; a bad request must leave each one's row count as it was. */
export const TABLES = [
  "accounts",
  "account_operations",
  "price_versions",
  "preauths",
  "usage_events",
  "settlements",
  "ledger_entries",
  "usage_rollups_hourly",
  "rerun_requests",
  "audit_events",
] as const;

export interface Snapshot {
  rows: Record<string, bigint>;
  auditHead: { seq: bigint; hash: string };
  /** Redis's count of writes since it started (rdb_changes_since_last_save, never reset: saving is off). */
  redisWrites: number;
}

export interface Answer {
  code: string;
  details: string;
  response?: unknown;
}

type RawMethod = (
  request: Buffer,
  metadata: Metadata,
  options: Partial<CallOptions>,
  cb: (e: ServiceError | null, r: Buffer) => void,
) => unknown;

/** A client per service that sends the given bytes as they are: what a broken or hostile caller can send. */
function rawClient(service: ServiceName, address: string): Client & Record<string, RawMethod> {
  const definition: ServiceDefinition = Object.fromEntries(
    Object.entries(SERVICES[service]).map(([name, method]) => [
      name,
      {
        ...method,
        requestSerialize: (bytes: Buffer) => bytes,
        responseDeserialize: (bytes: Buffer) => bytes,
      },
    ]),
  );
  const Raw = makeGenericClientConstructor(definition, service);
  return new Raw(address, credentials.createInsecure()) as unknown as Client & Record<string, RawMethod>;
}

export function metadataFor(key: ApiKey | string | undefined): Metadata {
  const metadata = new Metadata();
  if (key !== undefined) metadata.set("authorization", typeof key === "string" ? key : `Bearer ${key.key}`);
  return metadata;
}

/**
 * A production ingress (createIngressDeps: price cache, producer, token counter) on 127.0.0.1:0 over a test
 * database, with one account, prices and a pending pre-auth to aim requests at.
 */
export class IngressUnderTest {
  readonly typed = new Map<ServiceName, Client>();
  readonly raw = new Map<ServiceName, Client & Record<string, RawMethod>>();
  preauthId = "";

  private constructor(
    readonly ctx: TestContext,
    readonly redisServer: PrivateRedis,
    readonly redis: Redis,
    readonly owned: OwnedIngressDeps,
    readonly ingress: Ingress,
    readonly address: string,
  ) {
    for (const name of Object.keys(SERVICES) as ServiceName[]) {
      const Typed = makeGenericClientConstructor(SERVICES[name], name);
      this.typed.set(name, new Typed(address, credentials.createInsecure()));
      this.raw.set(name, rawClient(name, address));
    }
  }

  /** A Redis of its own, so that any write it takes is this ingress's. */
  static async start(ctx: TestContext, settings: Record<string, unknown> = {}): Promise<IngressUnderTest> {
    const redisServer = await startPrivateRedis(["--appendonly", "no", "--maxmemory-policy", "noeviction"]);
    const config = configStoreFor(
      { databaseUrl: ctx.databaseUrl, redisUrl: redisServer.url },
      { queue: { prefix: ctx.redisPrefix }, metrics: { ingressPort: 0 }, ...settings },
      { dashboardAddr: "127.0.0.1:3000", services: "auto", apiKeys: [YGGDRASIL_KEY, ADMIN_KEY] },
    );
    for (const [model, input, output] of [
      ["gpt-4o-mini", 150_000n, 600_000n],
      ["*", 1_000_000_000_000n, 1_000_000_000_000n],
    ] as const) {
      await setPrice(
        ctx.db,
        {
          providerId: model === "*" ? "priciest" : "openai",
          model,
          inputMicrosPerMtok: input,
          outputMicrosPerMtok: output,
          effectiveFrom: new Date("2020-01-01Z"),
        },
        { requestId: `seed-${model}`, actor: "test" },
      );
    }
    await creditAccount(ctx.db, {
      requestId: "seed-credit",
      accountId: "acct-1",
      amountMicros: 1_000_000_000n,
      reference: "",
      actor: "test",
    });
    const owned = createIngressDeps(config);
    await owned.start();
    const ingress = createIngress(owned.deps);
    const { port } = await ingress.start("127.0.0.1:0");
    const redis = new Redis(redisServer.url);
    const under = new IngressUnderTest(ctx, redisServer, redis, owned, ingress, `127.0.0.1:${port}`);
    const held = await under.call("preauth", "preAuthorize", {
      requestId: "seed-auth",
      accountId: "acct-1",
      providerId: "openai",
      model: "gpt-4o-mini",
      estimatedInputTokens: 1000n,
      maxOutputTokens: 100n,
      promptText: "",
      messages: [],
      ttlSeconds: 3600,
    });
    under.preauthId = (held.response as { preauthId: string }).preauthId;
    return under;
  }

  /** One unary call through the generated client (no deadline unless given); never throws. */
  call(
    service: ServiceName,
    method: string,
    request: unknown,
    metadata = metadataFor(ADMIN_KEY),
    options: Partial<CallOptions> = {},
  ): Promise<Answer> {
    const client = this.typed.get(service) as unknown as Record<string, RawMethod>;
    return answer((cb) => client[method]!.call(client, request as Buffer, metadata, options, cb));
  }

  /** The same, with the request's bytes as given. */
  callRaw(
    service: ServiceName,
    method: string,
    bytes: Buffer,
    metadata = metadataFor(ADMIN_KEY),
  ): Promise<Answer> {
    const client = this.raw.get(service)!;
    return answer((cb) => client[method]!.call(client, bytes, metadata, {}, cb));
  }

  async snapshot(): Promise<Snapshot> {
    const counts = TABLES.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(", ");
    const { rows } = await this.ctx.pool.query(`SELECT ${counts}`);
    const head = await this.ctx.pool.query("SELECT seq, hash FROM audit_chain_head WHERE id = 1");
    const persistence = await this.redis.info("persistence");
    const redisWrites = Number(/rdb_changes_since_last_save:(\d+)/.exec(persistence)?.[1]);
    return { rows: rows[0], auditHead: head.rows[0], redisWrites };
  }

  async close(): Promise<void> {
    for (const client of [...this.typed.values(), ...this.raw.values()]) client.close();
    await this.ingress.stop();
    await this.owned.close();
    this.redis.disconnect();
    await this.redisServer.destroy();
  }
}

function answer(send: (cb: (e: ServiceError | null, r: unknown) => void) => void): Promise<Answer> {
  return new Promise((resolve) => {
    send((error, response) => {
      if (error) resolve({ code: status[error.code] ?? String(error.code), details: error.details });
      else resolve({ code: "OK", details: "", response });
    });
  });
}
