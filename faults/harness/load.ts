import {
  CancelPreAuthRequest,
  CapturePreAuthRequest,
  CreditAccountRequest,
  PreAuthorizeRequest,
  type PreAuthorizeResponse,
  TrackTokensBatchRequest,
} from "@heidrun/proto";
import { type FaultClient, runConcurrently } from "./client";
import { ACCOUNTS, PRICES, trackRequest, usageOf } from "./workload";

export interface TrackLoadOptions {
  /** Request ids are `<prefix>-<n>`. */
  prefix: string;
  /** Usage events to send. */
  events: number;
  /** Calls in flight at once. */
  concurrency?: number;
  /** Events per call: 1 sends TrackTokens, more sends TrackTokensBatch. */
  perCall?: number;
  /** Ends the load early (the events not sent yet are simply not sent). */
  stop?: () => boolean;
}

/** Sends usage events through the client (which retries unknown outcomes); resolves when every call ended. */
export async function trackLoad(client: FaultClient, options: TrackLoadOptions): Promise<number> {
  const perCall = options.perCall ?? 1;
  const calls = Math.ceil(options.events / perCall);
  const sent = await runConcurrently(
    calls,
    options.concurrency ?? 16,
    async (call) => {
      const first = call * perCall;
      const last = Math.min(first + perCall, options.events);
      const items = [];
      for (let n = first; n < last; n++) items.push(trackRequest(`${options.prefix}-${n}`, n));
      if (perCall === 1) await client.trackTokens(items[0]!);
      else await client.trackTokensBatch(TrackTokensBatchRequest.fromPartial({ items }));
    },
    options.stop,
  );
  return sent;
}

/** Funds every account through CreditAccount, so the model sees the credits as acknowledged calls. */
export async function creditAccounts(
  client: FaultClient,
  prefix: string,
  amountMicros = 1_000_000_000n,
  accounts: readonly string[] = ACCOUNTS,
): Promise<void> {
  await runConcurrently(accounts.length, 8, (i) =>
    client.creditAccount(
      CreditAccountRequest.fromPartial({
        requestId: `${prefix}-credit-${i}`,
        accountId: accounts[i]!,
        amountMicros,
        reference: "faults",
      }),
    ),
  );
}

export interface PreAuthLoadOptions {
  prefix: string;
  /** Pre-authorize, then capture (two in three) or cancel (one in three). */
  flows: number;
  concurrency?: number;
  /** Seconds the holds live (0: the default setting). */
  ttlSeconds?: number;
  stop?: () => boolean;
}

/** The pre-paid path: every flow holds an estimate, then captures the usage or cancels, each call retried. */
export async function preAuthLoad(client: FaultClient, options: PreAuthLoadOptions): Promise<number> {
  return runConcurrently(
    options.flows,
    options.concurrency ?? 8,
    async (n) => {
      const usage = usageOf(n);
      const price = PRICES[n % PRICES.length]!;
      const held = await client.preAuthorize(
        PreAuthorizeRequest.fromPartial({
          requestId: `${options.prefix}-auth-${n}`,
          accountId: ACCOUNTS[n % ACCOUNTS.length]!,
          providerId: price.providerId,
          model: price.model,
          estimatedInputTokens: usage.inputTokens,
          maxOutputTokens: 4000n,
          ttlSeconds: options.ttlSeconds ?? 0,
        }),
      );
      const response = held.response as PreAuthorizeResponse | undefined;
      if (held.outcome !== "ok" || !response?.authorized) return;
      if (n % 3 === 2) {
        await client.cancelPreAuth(
          CancelPreAuthRequest.fromPartial({
            requestId: `${options.prefix}-cancel-${n}`,
            preauthId: response.preauthId,
            reason: "faults",
          }),
        );
      } else {
        await client.capturePreAuth(
          CapturePreAuthRequest.fromPartial({
            requestId: `${options.prefix}-capture-${n}`,
            preauthId: response.preauthId,
            usage,
          }),
        );
      }
    },
    options.stop,
  );
}
