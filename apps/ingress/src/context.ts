import type { ApiKeyScope, ConfigStore } from "@heidrun/config";
import type { Db } from "@heidrun/db";
import type { Logger, Registry } from "@heidrun/observability";
import type {
  AccountServiceService,
  PreAuthServiceService,
  PricingServiceService,
  SettlementServiceService,
  TokenServiceService,
} from "@heidrun/proto";
import type { QueueConnection, SettlementProducer } from "@heidrun/queue";
import type { TokenCountingService } from "@heidrun/tokenizers";
import type pg from "pg";
import type { PriceLookup } from "./handlers/preauth";
import type { PricingCatalog } from "./handlers/pricing";

/**
 * Everything the ingress and its handlers use, built once per process (runIngress) or per test.
 *
 * Extending: a handler that needs another collaborator (price cache, token counter, queue producer) adds it
 * here as a field and builds it in `createIngressDeps` (run.ts); tests pass their own. The ingress never
 * closes what it is given: whoever built the deps closes them.
 */
export interface IngressDeps {
  config: ConfigStore;
  log: Logger;
  /** RPC metrics are registered here (metrics.ts); the dashboard serves it at /metrics. */
  registry: Registry;
  pool: pg.Pool;
  db: Db;
  /** Health check (PING) and price announcements; give it `enableOfflineQueue: false` so a dead Redis fails fast. */
  redis: QueueConnection;
  /** Queues settlement jobs (CapturePreAuth's settle-capture). */
  producer: SettlementProducer;
  /** Counts prompt tokens with the model's tokenizer (PreAuthorize from prompt_text / messages). */
  tokenCounter: Pick<TokenCountingService, "countTokens">;
  /** Every price version in memory (PriceCache of @heidrun/db): quotes, reads, PreAuthorize's price and a capture's pinned version never query Postgres. */
  priceCache: PricingCatalog & PriceLookup;
  /** Replaces individual handlers, e.g. a slow or failing one in tests. Keys as in `IngressHandlers`. */
  handlerOverrides?: Partial<{ [S in keyof IngressHandlers]: Partial<IngressHandlers[S]> }>;
}

/** Who is calling: the API key that authenticated the call (keyId is a non-secret label, never the key). */
export interface Principal {
  keyId: string;
  scope: ApiKeyScope;
}

/**
 * What a handler gets besides its request. The request arrives already validated (validation.ts) and
 * authenticated; the handler answers or throws a DomainError. Anything else thrown becomes INTERNAL.
 */
export interface CallContext {
  /** The request's request_id when it has one (the idempotency key), for logs and errors. */
  requestId?: string;
  principal: Principal;
  /** When the caller stops waiting (the client's deadline, capped at the ingress maximum). */
  deadline?: Date;
  /** Child logger bound to method and request_id. */
  log: Logger;
  /** Aborted when the caller cancels, the deadline passes or the server is forced down. */
  signal: AbortSignal;
}

/** A method implementation: a plain async function, no grpc callbacks. */
export type Handler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

/** The handler object for one generated ts-proto service definition, keyed by its camelCase method names. */
export type ServiceHandlers<Definition> = {
  [Method in keyof Definition]: Definition[Method] extends {
    requestDeserialize: (bytes: Buffer) => infer Req;
    responseSerialize: (value: infer Res) => Buffer;
  }
    ? Handler<Req, Res>
    : never;
};

export type TokenHandlers = ServiceHandlers<typeof TokenServiceService>;
export type PricingHandlers = ServiceHandlers<typeof PricingServiceService>;
export type SettlementHandlers = ServiceHandlers<typeof SettlementServiceService>;
export type PreAuthHandlers = ServiceHandlers<typeof PreAuthServiceService>;
export type AccountHandlers = ServiceHandlers<typeof AccountServiceService>;

export interface IngressHandlers {
  token: TokenHandlers;
  pricing: PricingHandlers;
  settlement: SettlementHandlers;
  preauth: PreAuthHandlers;
  account: AccountHandlers;
}
