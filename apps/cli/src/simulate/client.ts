import {
  type CallOptions,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  AccountServiceClient,
  PreAuthServiceClient,
  PricingServiceClient,
  SettlementServiceClient,
  TokenServiceClient,
} from "@heidrun/proto";

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** A call's answer: the response, or the gRPC status it failed with. */
export type Answer<Res> =
  | { ok: true; response: Res; attempts: number; latencyMs: number }
  | { ok: false; code: status; message: string; attempts: number; latencyMs: number };

/** Statuses a client retries with the same request_id, as Yggdrasil does: the call is idempotent. */
const RETRIED = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED]);
const MAX_ATTEMPTS = 4;

export function statusName(code: status): string {
  return status[code] ?? `CODE_${code}`;
}

export interface HeidrunClientOptions {
  target: string;
  /** Sent as `authorization: Bearer <key>`; none when undefined. */
  key?: string | undefined;
  deadlineMs?: number;
  /** Called once per finished call (after its retries), for the live statistics. */
  onCall?: (method: string, code: status, latencyMs: number) => void;
  /** Awaited before each counted call: the rate limit. */
  pace?: () => Promise<void>;
}

/** The five Heidrun services on one target, called as promises with retries of transient failures. */
export class HeidrunClient {
  readonly token: TokenServiceClient;
  readonly pricing: PricingServiceClient;
  readonly settlement: SettlementServiceClient;
  readonly preauth: PreAuthServiceClient;
  readonly account: AccountServiceClient;
  readonly #options: HeidrunClientOptions;

  constructor(options: HeidrunClientOptions) {
    this.#options = options;
    const insecure = credentials.createInsecure();
    this.token = new TokenServiceClient(options.target, insecure);
    this.pricing = new PricingServiceClient(options.target, insecure);
    this.settlement = new SettlementServiceClient(options.target, insecure);
    this.preauth = new PreAuthServiceClient(options.target, insecure);
    this.account = new AccountServiceClient(options.target, insecure);
  }

  #metadata(): Metadata {
    const metadata = new Metadata();
    if (this.#options.key) metadata.set("authorization", `Bearer ${this.#options.key}`);
    return metadata;
  }

  #once<Req, Res>(method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    const deadline = new Date(Date.now() + (this.#options.deadlineMs ?? 10_000));
    return new Promise((resolve, reject) => {
      method(request, this.#metadata(), { deadline }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  }

  /**
   * Calls `name` (e.g. "preauth.preAuthorize"), retrying transient failures with backoff. `counted` false
   * keeps book-check reads out of the call statistics.
   */
  async call<Req, Res>(
    name: string,
    method: UnaryMethod<Req, Res>,
    request: Req,
    counted = true,
  ): Promise<Answer<Res>> {
    if (counted) await this.#options.pace?.();
    const started = performance.now();
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        const response = await this.#once(method, request);
        const latencyMs = performance.now() - started;
        if (counted) this.#options.onCall?.(name, status.OK, latencyMs);
        return { ok: true, response, attempts, latencyMs };
      } catch (error) {
        const failure = error as ServiceError;
        const code = typeof failure.code === "number" ? failure.code : status.UNKNOWN;
        if (RETRIED.has(code) && attempts < MAX_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempts));
          continue;
        }
        const latencyMs = performance.now() - started;
        if (counted) this.#options.onCall?.(name, code, latencyMs);
        return { ok: false, code, message: failure.details ?? failure.message, attempts, latencyMs };
      }
    }
  }

  close(): void {
    for (const client of [this.token, this.pricing, this.settlement, this.preauth, this.account]) {
      client.close();
    }
  }
}
