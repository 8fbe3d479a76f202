import { appendFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type CallOptions,
  type ChannelOptions,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  AccountServiceClient,
  type CancelPreAuthRequest,
  type CancelPreAuthResponse,
  type CapturePreAuthRequest,
  type CapturePreAuthResponse,
  type CreditAccountRequest,
  type CreditAccountResponse,
  type PreAuthorizeRequest,
  type PreAuthorizeResponse,
  PreAuthServiceClient,
  PricingServiceClient,
  type SetPricingConfigRequest,
  type SetPricingConfigResponse,
  SettlementServiceClient,
  TokenServiceClient,
  type TrackTokensBatchRequest,
  type TrackTokensBatchResponse,
  type TrackTokensRequest,
  type TrackTokensResponse,
} from "@heidrun/proto";

/**
 * Outcomes that say nothing about whether the call took effect: the same request_id is sent again until a
 * definite answer comes (the contract makes that safe). RESOURCE_EXHAUSTED is backpressure: also retried.
 */
export const UNKNOWN_OUTCOMES: ReadonlySet<string> = new Set([
  "UNAVAILABLE",
  "DEADLINE_EXCEEDED",
  "RESOURCE_EXHAUSTED",
]);

export type Method =
  | "TrackTokens"
  | "TrackTokensBatch"
  | "CreditAccount"
  | "PreAuthorize"
  | "CapturePreAuth"
  | "CancelPreAuth"
  | "SetPricingConfig";

export interface Attempt {
  code: string;
  details?: string;
  /** Milliseconds since the call record began. */
  at: number;
  ms: number;
}

/** One logical call: every attempt under its request id, and how it ended. */
export interface CallRecord {
  seq: number;
  method: Method;
  /** The idempotency keys it carries (a batch: every item's). */
  requestIds: string[];
  request: unknown;
  attempts: Attempt[];
  /** ok / a definite error / still unknown when the client gave up. */
  outcome: "ok" | "error" | "unresolved";
  code: string;
  response?: unknown;
  startedAt: number;
  endedAt?: number;
}

export interface FaultClientOptions {
  address: string;
  apiKey: string;
  /** Deadline of each attempt. */
  deadlineMs?: number;
  /** After this long without a definite answer the call is left unresolved (a C5 violation). */
  giveUpMs?: number;
  /** Every finished call is appended here as one JSON line. */
  logFile?: string;
}

const CHANNEL_OPTIONS: ChannelOptions = {
  // Find a restarted ingress within a second instead of grpc-js's default backoff of up to two minutes.
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
  "grpc.min_reconnect_backoff_ms": 100,
};

type Callback<Res> = (error: ServiceError | null, response: Res) => void;
type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: Callback<Res>,
) => ClientUnaryCall;

function jsonOf(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v));
}

/**
 * A Yggdrasil stand-in that logs every call (request ids, arguments, each attempt's status, the outcome) and
 * retries unknown outcomes with the same request id and arguments, as the contract tells callers to.
 */
export class FaultClient {
  readonly records: CallRecord[] = [];
  readonly token: TokenServiceClient;
  readonly preauth: PreAuthServiceClient;
  readonly account: AccountServiceClient;
  readonly settlement: SettlementServiceClient;
  readonly pricing: PricingServiceClient;
  readonly #options: Required<Omit<FaultClientOptions, "logFile">> & { logFile?: string };
  #seq = 0;

  constructor(options: FaultClientOptions) {
    this.#options = { deadlineMs: 5000, giveUpMs: 180_000, ...options };
    const insecure = credentials.createInsecure();
    this.token = new TokenServiceClient(options.address, insecure, CHANNEL_OPTIONS);
    this.preauth = new PreAuthServiceClient(options.address, insecure, CHANNEL_OPTIONS);
    this.account = new AccountServiceClient(options.address, insecure, CHANNEL_OPTIONS);
    this.settlement = new SettlementServiceClient(options.address, insecure, CHANNEL_OPTIONS);
    this.pricing = new PricingServiceClient(options.address, insecure, CHANNEL_OPTIONS);
  }

  trackTokens(request: TrackTokensRequest): Promise<CallRecord> {
    return this.#call(
      "TrackTokens",
      [request.requestId],
      request,
      this.token.trackTokens.bind(this.token) as Unary<TrackTokensRequest, TrackTokensResponse>,
    );
  }

  trackTokensBatch(request: TrackTokensBatchRequest): Promise<CallRecord> {
    const ids = request.items.map((item) => item.requestId);
    return this.#call(
      "TrackTokensBatch",
      ids,
      request,
      this.token.trackTokensBatch.bind(this.token) as Unary<
        TrackTokensBatchRequest,
        TrackTokensBatchResponse
      >,
    );
  }

  creditAccount(request: CreditAccountRequest): Promise<CallRecord> {
    return this.#call(
      "CreditAccount",
      [request.requestId],
      request,
      this.account.creditAccount.bind(this.account) as Unary<CreditAccountRequest, CreditAccountResponse>,
    );
  }

  preAuthorize(request: PreAuthorizeRequest): Promise<CallRecord> {
    return this.#call(
      "PreAuthorize",
      [request.requestId],
      request,
      this.preauth.preAuthorize.bind(this.preauth) as Unary<PreAuthorizeRequest, PreAuthorizeResponse>,
    );
  }

  capturePreAuth(request: CapturePreAuthRequest): Promise<CallRecord> {
    return this.#call(
      "CapturePreAuth",
      [request.requestId],
      request,
      this.preauth.capturePreAuth.bind(this.preauth) as Unary<CapturePreAuthRequest, CapturePreAuthResponse>,
    );
  }

  cancelPreAuth(request: CancelPreAuthRequest): Promise<CallRecord> {
    return this.#call(
      "CancelPreAuth",
      [request.requestId],
      request,
      this.preauth.cancelPreAuth.bind(this.preauth) as Unary<CancelPreAuthRequest, CancelPreAuthResponse>,
    );
  }

  setPricingConfig(request: SetPricingConfigRequest): Promise<CallRecord> {
    return this.#call(
      "SetPricingConfig",
      [request.requestId],
      request,
      this.pricing.setPricingConfig.bind(this.pricing) as Unary<
        SetPricingConfigRequest,
        SetPricingConfigResponse
      >,
    );
  }

  /** Calls that ended with a given outcome, e.g. every acknowledged one. */
  where(outcome: CallRecord["outcome"], method?: Method): CallRecord[] {
    return this.records.filter((r) => r.outcome === outcome && (method === undefined || r.method === method));
  }

  close(): void {
    for (const client of [this.token, this.preauth, this.account, this.settlement, this.pricing])
      client.close();
  }

  async #call<Req, Res>(
    method: Method,
    requestIds: string[],
    request: Req,
    unary: Unary<Req, Res>,
  ): Promise<CallRecord> {
    const record: CallRecord = {
      seq: this.#seq++,
      method,
      requestIds,
      request,
      attempts: [],
      outcome: "unresolved",
      code: "",
      startedAt: Date.now(),
    };
    this.records.push(record);
    const { deadlineMs, giveUpMs, apiKey } = this.#options;
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${apiKey}`);
    let backoffMs = 50;
    for (;;) {
      const began = Date.now();
      const result = await new Promise<{ error: ServiceError | null; response: Res }>((resolve) => {
        unary(request, metadata, { deadline: began + deadlineMs }, (error, response) =>
          resolve({ error, response }),
        );
      });
      const code = result.error ? (status[result.error.code] ?? String(result.error.code)) : "OK";
      record.attempts.push({
        code,
        ...(result.error ? { details: result.error.details } : {}),
        at: began - record.startedAt,
        ms: Date.now() - began,
      });
      record.code = code;
      if (!result.error) {
        record.outcome = "ok";
        record.response = result.response;
        break;
      }
      if (!UNKNOWN_OUTCOMES.has(code)) {
        record.outcome = "error";
        break;
      }
      if (Date.now() - record.startedAt > giveUpMs) break;
      await sleep(backoffMs + Math.floor(Math.random() * backoffMs));
      backoffMs = Math.min(backoffMs * 2, 1000);
    }
    record.endedAt = Date.now();
    if (this.#options.logFile) appendFileSync(this.#options.logFile, `${jsonOf(record)}\n`);
    return record;
  }
}

/** Runs `count` tasks with at most `concurrency` in flight; `stop()` true ends it early. */
export async function runConcurrently(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<unknown>,
  stop: () => boolean = () => false,
): Promise<number> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count && !stop()) {
      const index = next++;
      await task(index);
    }
  });
  await Promise.all(lanes);
  return next;
}
