import {
  AggregateTokensRequest,
  CalculatePricingRequest,
  CalculateSettlementRequest,
  CancelPreAuthRequest,
  CapturePreAuthRequest,
  CountTokensRequest,
  CreditAccountRequest,
  GetBalanceRequest,
  GetPreAuthRequest,
  GetPricingConfigRequest,
  GetSettlementHistoryRequest,
  Granularity,
  GroupBy,
  PreAuthorizeRequest,
  RerunFailedSettlementsRequest,
  SetCreditLimitRequest,
  SetPricingConfigRequest,
  type SettlementStatus,
  TrackTokensBatchRequest,
  TrackTokensRequest,
} from "@heidrun/proto";
import type { IngressHandlers } from "./context";

/** Test table shared by validation.test.ts (validators alone) and validation.int.test.ts (over the wire). */
export interface ValidationCase {
  name: string;
  service: keyof IngressHandlers;
  /** camelCase method name, as on the generated client and in IngressHandlers. */
  method: string;
  request: unknown;
  /** The field path the INVALID_ARGUMENT must name. */
  field: string;
}

const NOW = Date.now();
const MIB = 1024 * 1024;
const USAGE = { inputTokens: 100n, outputTokens: 20n, cachedInputTokens: 10n, cacheWriteTokens: 5n };
const TRACK = {
  requestId: "req-1",
  accountId: "acct-1",
  providerId: "openai",
  model: "gpt-4o-mini",
  usage: USAGE,
  occurredAt: new Date(NOW - 60_000),
};
const PRICE = {
  providerId: "openai",
  model: "*",
  inputMicrosPerMtok: 150_000n,
  outputMicrosPerMtok: 600_000n,
  tiers: [{ aboveInputTokens: 200_000n, inputMicrosPerMtok: 300_000n }],
};
const PREAUTH = {
  requestId: "req-1",
  accountId: "acct-1",
  providerId: "openai",
  model: "gpt-4o-mini",
  estimatedInputTokens: 1000n,
  maxOutputTokens: 500n,
  ttlSeconds: 60,
};
const long = (length: number, char = "a") => char.repeat(length);
const YEAR_10000 = new Date(Date.UTC(10000, 0, 1));

const count = (o: Partial<CountTokensRequest>) =>
  CountTokensRequest.fromPartial({
    requestId: "req-1",
    model: "gpt-4o-mini",
    inputText: "hi",
    outputTokens: 5n,
    ...o,
  });
const track = (o: Partial<TrackTokensRequest>) => TrackTokensRequest.fromPartial({ ...TRACK, ...o });
const usage = (o: Partial<typeof USAGE>) => track({ usage: { ...USAGE, ...o } });
const batchWith = (index: number, o: Partial<TrackTokensRequest>) =>
  TrackTokensBatchRequest.fromPartial({
    items: Array.from({ length: 5 }, (_, i) => ({
      ...TRACK,
      requestId: `req-${i}`,
      ...(i === index ? o : {}),
    })),
  });
const aggregate = (o: Partial<AggregateTokensRequest>) =>
  AggregateTokensRequest.fromPartial({
    providerId: "openai",
    granularity: Granularity.GRANULARITY_DAY,
    ...o,
  });
const pricing = (o: Partial<CalculatePricingRequest>) =>
  CalculatePricingRequest.fromPartial({
    requestId: "req-1",
    providerId: "openai",
    model: "gpt-4o",
    usage: USAGE,
    ...o,
  });
const setPrice = (o: Record<string, unknown>) =>
  SetPricingConfigRequest.fromPartial({ requestId: "req-1", price: { ...PRICE, ...o } });
const history = (o: Partial<GetSettlementHistoryRequest>) =>
  GetSettlementHistoryRequest.fromPartial({ accountId: "acct-1", pageSize: 100, ...o });
const rerun = (o: Partial<RerunFailedSettlementsRequest>) =>
  RerunFailedSettlementsRequest.fromPartial({ requestId: "req-1", providerId: "openai", limit: 10, ...o });
const preauth = (o: Partial<PreAuthorizeRequest>) => PreAuthorizeRequest.fromPartial({ ...PREAUTH, ...o });
const credit = (o: Partial<CreditAccountRequest>) =>
  CreditAccountRequest.fromPartial({
    requestId: "req-1",
    accountId: "acct-1",
    amountMicros: 1_000_000n,
    ...o,
  });

/** One valid request per method: each passes validation unchanged. */
export const VALID_REQUESTS: ReadonlyArray<Omit<ValidationCase, "field" | "name">> = [
  { service: "token", method: "countTokens", request: count({}) },
  { service: "token", method: "trackTokens", request: track({ occurredAt: new Date(NOW + 4 * 60_000) }) },
  { service: "token", method: "trackTokensBatch", request: batchWith(0, {}) },
  { service: "token", method: "aggregateTokens", request: aggregate({ groupBy: [GroupBy.GROUP_BY_MODEL] }) },
  { service: "pricing", method: "calculatePricing", request: pricing({ model: "*" }) },
  {
    service: "pricing",
    method: "getPricingConfig",
    request: GetPricingConfigRequest.fromPartial({ providerId: "p" }),
  },
  { service: "pricing", method: "setPricingConfig", request: setPrice({}) },
  {
    service: "settlement",
    method: "calculateSettlement",
    request: CalculateSettlementRequest.fromPartial({ totalCostMicros: 1000n, providerId: "openai" }),
  },
  { service: "settlement", method: "getSettlementHistory", request: history({}) },
  { service: "settlement", method: "rerunFailedSettlements", request: rerun({}) },
  { service: "preauth", method: "preAuthorize", request: preauth({}) },
  {
    service: "preauth",
    method: "capturePreAuth",
    request: CapturePreAuthRequest.fromPartial({ requestId: "r", preauthId: "pa-1", usage: USAGE }),
  },
  {
    service: "preauth",
    method: "cancelPreAuth",
    request: CancelPreAuthRequest.fromPartial({ requestId: "r", preauthId: "pa-1" }),
  },
  { service: "preauth", method: "getPreAuth", request: GetPreAuthRequest.fromPartial({ preauthId: "pa-1" }) },
  { service: "account", method: "creditAccount", request: credit({}) },
  {
    service: "account",
    method: "setCreditLimit",
    request: SetCreditLimitRequest.fromPartial({
      requestId: "r",
      accountId: "acct-1",
      creditLimitMicros: 0n,
    }),
  },
  {
    service: "account",
    method: "getBalance",
    request: GetBalanceRequest.fromPartial({ accountId: "acct-1" }),
  },
];

const c = (
  service: ValidationCase["service"],
  method: string,
  field: string,
  name: string,
  request: unknown,
): ValidationCase => ({ service, method, field, name, request });

/** Every field rule of the spec's Conventions and method descriptions, with the field path it must name. */
export const INVALID_CASES: readonly ValidationCase[] = [
  // ids: 1–128 characters of [A-Za-z0-9._:-]
  c("token", "trackTokens", "request_id", "missing request_id", track({ requestId: "" })),
  c("token", "trackTokens", "request_id", "129-character request_id", track({ requestId: long(129) })),
  c("token", "trackTokens", "account_id", "space in account_id", track({ accountId: "acct 1" })),
  c("token", "trackTokens", "account_id", "non-ASCII account_id", track({ accountId: "kontō" })),
  c("token", "trackTokens", "provider_id", "missing provider_id", track({ providerId: "" })),
  c("token", "countTokens", "request_id", "bad optional request_id", count({ requestId: "a/b" })),
  c(
    "pricing",
    "getPricingConfig",
    "provider_id",
    "missing provider_id",
    GetPricingConfigRequest.fromPartial({}),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "request_id",
    "missing request_id",
    SetPricingConfigRequest.fromPartial({ price: PRICE }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price.provider_id",
    "bad price.provider_id",
    setPrice({ providerId: "open ai" }),
  ),
  c(
    "settlement",
    "calculateSettlement",
    "provider_id",
    "missing provider_id",
    CalculateSettlementRequest.fromPartial({}),
  ),
  c(
    "settlement",
    "getSettlementHistory",
    "account_id",
    "bad account_id filter",
    history({ accountId: "a#1" }),
  ),
  c("settlement", "rerunFailedSettlements", "request_id", "missing request_id", rerun({ requestId: "" })),
  c(
    "preauth",
    "capturePreAuth",
    "preauth_id",
    "missing preauth_id",
    CapturePreAuthRequest.fromPartial({ requestId: "r", usage: USAGE }),
  ),
  c(
    "preauth",
    "cancelPreAuth",
    "preauth_id",
    "missing preauth_id",
    CancelPreAuthRequest.fromPartial({ requestId: "r" }),
  ),
  c(
    "preauth",
    "getPreAuth",
    "preauth_id",
    "bad preauth_id",
    GetPreAuthRequest.fromPartial({ preauthId: "pa/1" }),
  ),
  c("account", "getBalance", "account_id", "missing account_id", GetBalanceRequest.fromPartial({})),
  c(
    "account",
    "setCreditLimit",
    "request_id",
    "missing request_id",
    SetCreditLimitRequest.fromPartial({ accountId: "a" }),
  ),
  // model: 1–256 characters of [A-Za-z0-9._:/@+-]; "*" only for prices
  c("token", "trackTokens", "model", "missing model", track({ model: "" })),
  c("token", "trackTokens", "model", "257-character model", track({ model: long(257) })),
  c("token", "trackTokens", "model", "space in model", track({ model: "gpt 4o" })),
  c("token", "trackTokens", "model", "default model for usage", track({ model: "*" })),
  c("token", "countTokens", "model", "missing model", count({ model: "" })),
  c("token", "aggregateTokens", "model", "default model as usage filter", aggregate({ model: "*" })),
  c("pricing", "setPricingConfig", "price.model", "bad price.model", setPrice({ model: "gpt!" })),
  c("preauth", "preAuthorize", "model", "default model", preauth({ model: "*" })),
  // token counts: 0 ≤ n ≤ 10^12; cached + cache_write ≤ input
  c("token", "trackTokens", "usage", "missing usage", track({ usage: undefined })),
  c("token", "trackTokens", "usage.input_tokens", "negative input_tokens", usage({ inputTokens: -1n })),
  c(
    "token",
    "trackTokens",
    "usage.output_tokens",
    "output_tokens above 10^12",
    usage({ outputTokens: 10n ** 12n + 1n }),
  ),
  c(
    "token",
    "trackTokens",
    "usage.cached_input_tokens",
    "negative cached",
    usage({ cachedInputTokens: -1n }),
  ),
  c(
    "token",
    "trackTokens",
    "usage.cache_write_tokens",
    "negative cache_write",
    usage({ cacheWriteTokens: -5n }),
  ),
  c(
    "token",
    "trackTokens",
    "usage.cached_input_tokens",
    "cached + cache_write above input",
    usage({ inputTokens: 10n, cachedInputTokens: 6n, cacheWriteTokens: 5n }),
  ),
  c(
    "token",
    "countTokens",
    "input_tokens",
    "input_tokens above 10^12",
    count({ inputText: "", inputTokens: 10n ** 12n + 1n }),
  ),
  c("token", "countTokens", "output_tokens", "negative output_tokens", count({ outputTokens: -1n })),
  c(
    "pricing",
    "calculatePricing",
    "usage.input_tokens",
    "negative input_tokens",
    pricing({ usage: { ...USAGE, inputTokens: -1n } }),
  ),
  c(
    "preauth",
    "capturePreAuth",
    "usage",
    "missing usage",
    CapturePreAuthRequest.fromPartial({ requestId: "r", preauthId: "p" }),
  ),
  c(
    "preauth",
    "preAuthorize",
    "estimated_input_tokens",
    "negative estimate",
    preauth({ estimatedInputTokens: -1n }),
  ),
  c(
    "preauth",
    "preAuthorize",
    "max_output_tokens",
    "max_output above 10^12",
    preauth({ maxOutputTokens: 10n ** 12n + 1n }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price.tiers[0].above_input_tokens",
    "negative threshold",
    setPrice({ tiers: [{ aboveInputTokens: -1n }] }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price.tiers[1].above_input_tokens",
    "duplicate threshold",
    setPrice({ tiers: [{ aboveInputTokens: 5n }, { aboveInputTokens: 5n }] }),
  ),
  // one input source, one output source
  c(
    "token",
    "countTokens",
    "messages",
    "input_text and messages",
    count({ messages: [{ role: "user", content: "x", name: "" }] }),
  ),
  c("token", "countTokens", "input_tokens", "input_text and input_tokens", count({ inputTokens: 3n })),
  c("token", "countTokens", "output_tokens", "output_text and output_tokens", count({ outputText: "x" })),
  c("preauth", "preAuthorize", "prompt_text", "estimate and prompt_text", preauth({ promptText: "x" })),
  c(
    "preauth",
    "preAuthorize",
    "messages",
    "prompt_text and messages",
    preauth({
      estimatedInputTokens: 0n,
      promptText: "x",
      messages: [{ role: "user", content: "y", name: "" }],
    }),
  ),
  // text for counting: 2 MiB in all (UTF-8 bytes)
  c("token", "countTokens", "input_text", "input_text over 2 MiB", count({ inputText: long(2 * MIB + 1) })),
  c(
    "token",
    "countTokens",
    "output_text",
    "input and output text over 2 MiB together",
    count({ inputText: long(1.5 * MIB), outputText: long(MIB), outputTokens: 0n }),
  ),
  c(
    "token",
    "countTokens",
    "messages[1].content",
    "two-byte characters over 2 MiB in messages",
    count({
      inputText: "",
      messages: [
        { role: "user", content: "x", name: "" },
        { role: "user", content: long(MIB, "é"), name: "" },
      ],
    }),
  ),
  c(
    "preauth",
    "preAuthorize",
    "prompt_text",
    "prompt_text over 2 MiB",
    preauth({ estimatedInputTokens: 0n, promptText: long(2 * MIB + 1) }),
  ),
  // batches: up to 1,000 items; an invalid item is named by index
  c(
    "token",
    "trackTokensBatch",
    "items",
    "1,001 items",
    TrackTokensBatchRequest.fromPartial({
      items: Array.from({ length: 1001 }, (_, i) => ({ ...TRACK, requestId: `r${i}` })),
    }),
  ),
  c(
    "token",
    "trackTokensBatch",
    "items[3].usage.input_tokens",
    "bad usage in item 3",
    batchWith(3, { usage: { ...USAGE, inputTokens: -1n } }),
  ),
  c(
    "token",
    "trackTokensBatch",
    "items[3].account_id",
    "bad account in item 3",
    batchWith(3, { accountId: "" }),
  ),
  // timestamps: valid, ranges [from, to), occurred_at at most 5 minutes ahead
  c(
    "token",
    "trackTokens",
    "occurred_at",
    "occurred_at 6 minutes ahead",
    track({ occurredAt: new Date(NOW + 6 * 60_000) }),
  ),
  c(
    "token",
    "aggregateTokens",
    "to",
    "to before from",
    aggregate({ from: new Date(NOW), to: new Date(NOW - 1000) }),
  ),
  c("token", "aggregateTokens", "from", "from in year 10000", aggregate({ from: YEAR_10000 })),
  c(
    "settlement",
    "getSettlementHistory",
    "to",
    "to before from",
    history({ from: new Date(NOW), to: new Date(NOW - 1) }),
  ),
  c(
    "settlement",
    "rerunFailedSettlements",
    "failed_to",
    "failed_to before failed_from",
    rerun({ failedFrom: new Date(NOW), failedTo: new Date(0) }),
  ),
  c("pricing", "calculatePricing", "at", "at in year 10000", pricing({ at: YEAR_10000 })),
  c(
    "pricing",
    "getPricingConfig",
    "at",
    "at in year 10000",
    GetPricingConfigRequest.fromPartial({ providerId: "p", at: YEAR_10000 }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price.effective_from",
    "effective_from in year 10000",
    setPrice({ effectiveFrom: YEAR_10000 }),
  ),
  // enums this contract defines
  c(
    "token",
    "aggregateTokens",
    "granularity",
    "unknown granularity",
    aggregate({ granularity: 9 as Granularity }),
  ),
  c(
    "token",
    "aggregateTokens",
    "group_by[1]",
    "unknown group_by",
    aggregate({ groupBy: [GroupBy.GROUP_BY_MODEL, 7 as GroupBy] }),
  ),
  c(
    "token",
    "aggregateTokens",
    "group_by[0]",
    "unspecified group_by",
    aggregate({ groupBy: [GroupBy.GROUP_BY_UNSPECIFIED] }),
  ),
  c(
    "settlement",
    "getSettlementHistory",
    "status",
    "unknown status",
    history({ status: 5 as SettlementStatus }),
  ),
  // paging and limits
  c("settlement", "getSettlementHistory", "page_size", "page_size above 1000", history({ pageSize: 1001 })),
  c("settlement", "getSettlementHistory", "page_size", "negative page_size", history({ pageSize: -1 })),
  c(
    "settlement",
    "getSettlementHistory",
    "page_token",
    "oversized page_token",
    history({ pageToken: long(1025) }),
  ),
  c("settlement", "rerunFailedSettlements", "limit", "negative limit", rerun({ limit: -1 })),
  c(
    "settlement",
    "rerunFailedSettlements",
    "reason_contains",
    "oversized reason_contains",
    rerun({ reasonContains: long(1025) }),
  ),
  c("preauth", "preAuthorize", "ttl_seconds", "negative ttl", preauth({ ttlSeconds: -1 })),
  c(
    "preauth",
    "preAuthorize",
    "ttl_seconds",
    "ttl above the maximum setting",
    preauth({ ttlSeconds: 86_401 }),
  ),
  c(
    "preauth",
    "cancelPreAuth",
    "reason",
    "oversized reason",
    CancelPreAuthRequest.fromPartial({ requestId: "r", preauthId: "p", reason: long(1025) }),
  ),
  c("account", "creditAccount", "reference", "oversized reference", credit({ reference: long(1025) })),
  // money: amounts > 0 or ≥ 0 as the method says, prices ≥ 0
  c("account", "creditAccount", "amount_micros", "zero credit", credit({ amountMicros: 0n })),
  c("account", "creditAccount", "amount_micros", "negative credit", credit({ amountMicros: -1n })),
  c(
    "account",
    "creditAccount",
    "amount_micros",
    "credit above the ceiling",
    credit({ amountMicros: 10n ** 15n + 1n }),
  ),
  c(
    "account",
    "setCreditLimit",
    "credit_limit_micros",
    "negative credit limit",
    SetCreditLimitRequest.fromPartial({ requestId: "r", accountId: "a", creditLimitMicros: -1n }),
  ),
  c(
    "settlement",
    "calculateSettlement",
    "total_cost_micros",
    "negative total",
    CalculateSettlementRequest.fromPartial({ providerId: "p", totalCostMicros: -1n }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price",
    "missing price",
    SetPricingConfigRequest.fromPartial({ requestId: "r" }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price.input_micros_per_mtok",
    "negative input price",
    setPrice({ inputMicrosPerMtok: -1n }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price.output_micros_per_mtok",
    "price above the ceiling",
    setPrice({ outputMicrosPerMtok: 10n ** 12n + 1n }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price.cached_input_micros_per_mtok",
    "negative cached price",
    setPrice({ cachedInputMicrosPerMtok: -1n }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price.cache_write_micros_per_mtok",
    "negative write price",
    setPrice({ cacheWriteMicrosPerMtok: -1n }),
  ),
  c(
    "pricing",
    "setPricingConfig",
    "price.tiers[0].output_micros_per_mtok",
    "negative tier price",
    setPrice({ tiers: [{ aboveInputTokens: 1000n, outputMicrosPerMtok: -1n }] }),
  ),
  c("pricing", "setPricingConfig", "price.currency", "lower-case currency", setPrice({ currency: "usd" })),
];
