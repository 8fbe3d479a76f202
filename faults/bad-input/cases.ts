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
  PreAuthorizeRequest,
  RerunFailedSettlementsRequest,
  SetCreditLimitRequest,
  SetPricingConfigRequest,
  TrackTokensBatchRequest,
  TrackTokensRequest,
} from "@heidrun/proto";
import type { ServiceName } from "./harness";

/** A request the spec says must be refused, with the status (and for INVALID_ARGUMENT the field) it must get. */
export interface BadInputCase {
  name: string;
  service: ServiceName;
  method: string;
  /** Built when the case runs: it may name the pre-auth the test seeded. */
  request: () => unknown;
  code: "INVALID_ARGUMENT" | "OK";
  field?: string;
}

const USAGE = { inputTokens: 100n, outputTokens: 20n, cachedInputTokens: 10n, cacheWriteTokens: 5n };
const TRACK = {
  requestId: "bad-1",
  accountId: "acct-1",
  providerId: "openai",
  model: "gpt-4o-mini",
  usage: USAGE,
};
const PRICE = {
  providerId: "openai",
  model: "gpt-4o-mini",
  inputMicrosPerMtok: 1n,
  outputMicrosPerMtok: 2n,
  tiers: [{ aboveInputTokens: 1000n }],
};

/** Builders of one valid request per method, with the given fields replaced (dotted paths for nested ones). */
function requests(preauth: () => string) {
  return {
    countTokens: (o: object) =>
      CountTokensRequest.fromPartial({ requestId: "bad-1", model: "gpt-4o-mini", inputTokens: 5n, ...o }),
    trackTokens: (o: object) => TrackTokensRequest.fromPartial({ ...TRACK, ...o }),
    trackUsage: (o: object) => TrackTokensRequest.fromPartial({ ...TRACK, usage: { ...USAGE, ...o } }),
    trackTokensBatch: (o: object) =>
      TrackTokensBatchRequest.fromPartial({
        items: [TRACK, { ...TRACK, requestId: "bad-2", ...o }, { ...TRACK, requestId: "bad-3" }],
      }),
    aggregateTokens: (o: object) => AggregateTokensRequest.fromPartial({ ...o }),
    calculatePricing: (o: object) =>
      CalculatePricingRequest.fromPartial({
        requestId: "bad-1",
        providerId: "openai",
        model: "gpt-4o-mini",
        usage: USAGE,
        ...o,
      }),
    getPricingConfig: (o: object) => GetPricingConfigRequest.fromPartial({ providerId: "openai", ...o }),
    setPricingConfig: (o: object) =>
      SetPricingConfigRequest.fromPartial({ requestId: "bad-1", price: { ...PRICE, ...o } }),
    calculateSettlement: (o: object) =>
      CalculateSettlementRequest.fromPartial({ providerId: "openai", totalCostMicros: 100n, ...o }),
    getSettlementHistory: (o: object) => GetSettlementHistoryRequest.fromPartial({ ...o }),
    rerunFailedSettlements: (o: object) =>
      RerunFailedSettlementsRequest.fromPartial({
        requestId: "bad-1",
        providerId: "openai",
        dryRun: true,
        ...o,
      }),
    preAuthorize: (o: object) =>
      PreAuthorizeRequest.fromPartial({
        requestId: "bad-1",
        accountId: "acct-1",
        providerId: "openai",
        model: "gpt-4o-mini",
        estimatedInputTokens: 10n,
        maxOutputTokens: 10n,
        ...o,
      }),
    capturePreAuth: (o: object) =>
      CapturePreAuthRequest.fromPartial({ requestId: "bad-1", preauthId: preauth(), usage: USAGE, ...o }),
    captureUsage: (o: object) =>
      CapturePreAuthRequest.fromPartial({
        requestId: "bad-1",
        preauthId: preauth(),
        usage: { ...USAGE, ...o },
      }),
    cancelPreAuth: (o: object) =>
      CancelPreAuthRequest.fromPartial({ requestId: "bad-1", preauthId: preauth(), ...o }),
    getPreAuth: (o: object) => GetPreAuthRequest.fromPartial({ preauthId: preauth(), ...o }),
    creditAccount: (o: object) =>
      CreditAccountRequest.fromPartial({ requestId: "bad-1", accountId: "acct-1", amountMicros: 5n, ...o }),
    setCreditLimit: (o: object) =>
      SetCreditLimitRequest.fromPartial({
        requestId: "bad-1",
        accountId: "acct-1",
        creditLimitMicros: 5n,
        ...o,
      }),
    getBalance: (o: object) => GetBalanceRequest.fromPartial({ accountId: "acct-1", ...o }),
  };
}

type Target = [
  service: ServiceName,
  method: string,
  field: string,
  build: (value: never) => unknown,
  required: boolean,
];

/** Every id and model field of every RPC, and whether the spec requires it. */
function idTargets(r: ReturnType<typeof requests>): Target[] {
  const t = (
    service: ServiceName,
    method: string,
    field: string,
    build: (v: string) => unknown,
    required = true,
  ): Target => [service, method, field, build, required];
  return [
    t("token", "countTokens", "request_id", (v) => r.countTokens({ requestId: v }), false),
    t("token", "countTokens", "provider_id", (v) => r.countTokens({ providerId: v }), false),
    t("token", "countTokens", "model", (v) => r.countTokens({ model: v })),
    t("token", "trackTokens", "request_id", (v) => r.trackTokens({ requestId: v })),
    t("token", "trackTokens", "account_id", (v) => r.trackTokens({ accountId: v })),
    t("token", "trackTokens", "provider_id", (v) => r.trackTokens({ providerId: v })),
    t("token", "trackTokens", "model", (v) => r.trackTokens({ model: v })),
    t("token", "trackTokensBatch", "items[1].request_id", (v) => r.trackTokensBatch({ requestId: v })),
    t("token", "trackTokensBatch", "items[1].account_id", (v) => r.trackTokensBatch({ accountId: v })),
    t("token", "trackTokensBatch", "items[1].provider_id", (v) => r.trackTokensBatch({ providerId: v })),
    t("token", "trackTokensBatch", "items[1].model", (v) => r.trackTokensBatch({ model: v })),
    t("token", "aggregateTokens", "provider_id", (v) => r.aggregateTokens({ providerId: v }), false),
    t("token", "aggregateTokens", "account_id", (v) => r.aggregateTokens({ accountId: v }), false),
    t("token", "aggregateTokens", "model", (v) => r.aggregateTokens({ model: v }), false),
    t("pricing", "calculatePricing", "request_id", (v) => r.calculatePricing({ requestId: v }), false),
    t("pricing", "calculatePricing", "provider_id", (v) => r.calculatePricing({ providerId: v })),
    t("pricing", "calculatePricing", "model", (v) => r.calculatePricing({ model: v })),
    t("pricing", "getPricingConfig", "provider_id", (v) => r.getPricingConfig({ providerId: v })),
    t("pricing", "getPricingConfig", "model", (v) => r.getPricingConfig({ model: v }), false),
    t("pricing", "setPricingConfig", "request_id", (v) => ({ ...r.setPricingConfig({}), requestId: v })),
    t("pricing", "setPricingConfig", "price.provider_id", (v) => r.setPricingConfig({ providerId: v })),
    t("pricing", "setPricingConfig", "price.model", (v) => r.setPricingConfig({ model: v })),
    t(
      "settlement",
      "calculateSettlement",
      "request_id",
      (v) => r.calculateSettlement({ requestId: v }),
      false,
    ),
    t("settlement", "calculateSettlement", "provider_id", (v) => r.calculateSettlement({ providerId: v })),
    t(
      "settlement",
      "getSettlementHistory",
      "provider_id",
      (v) => r.getSettlementHistory({ providerId: v }),
      false,
    ),
    t(
      "settlement",
      "getSettlementHistory",
      "account_id",
      (v) => r.getSettlementHistory({ accountId: v }),
      false,
    ),
    t("settlement", "rerunFailedSettlements", "request_id", (v) =>
      r.rerunFailedSettlements({ requestId: v }),
    ),
    t(
      "settlement",
      "rerunFailedSettlements",
      "provider_id",
      (v) => r.rerunFailedSettlements({ providerId: v }),
      false,
    ),
    t("preauth", "preAuthorize", "request_id", (v) => r.preAuthorize({ requestId: v })),
    t("preauth", "preAuthorize", "account_id", (v) => r.preAuthorize({ accountId: v })),
    t("preauth", "preAuthorize", "provider_id", (v) => r.preAuthorize({ providerId: v })),
    t("preauth", "preAuthorize", "model", (v) => r.preAuthorize({ model: v })),
    t("preauth", "capturePreAuth", "request_id", (v) => r.capturePreAuth({ requestId: v })),
    t("preauth", "capturePreAuth", "preauth_id", (v) => r.capturePreAuth({ preauthId: v })),
    t("preauth", "cancelPreAuth", "request_id", (v) => r.cancelPreAuth({ requestId: v })),
    t("preauth", "cancelPreAuth", "preauth_id", (v) => r.cancelPreAuth({ preauthId: v })),
    t("preauth", "getPreAuth", "preauth_id", (v) => r.getPreAuth({ preauthId: v })),
    t("account", "creditAccount", "request_id", (v) => r.creditAccount({ requestId: v })),
    t("account", "creditAccount", "account_id", (v) => r.creditAccount({ accountId: v })),
    t("account", "setCreditLimit", "request_id", (v) => r.setCreditLimit({ requestId: v })),
    t("account", "setCreditLimit", "account_id", (v) => r.setCreditLimit({ accountId: v })),
    t("account", "getBalance", "account_id", (v) => r.getBalance({ accountId: v })),
  ];
}

/** Ids that look harmless to a person and must not pass: each is outside [A-Za-z0-9._:-] or over 128 characters. */
export const HOSTILE_IDS: readonly [string, string][] = [
  ["10 kB", "x".repeat(10_240)],
  ["NUL", "acct\u00001"],
  ["NFD (e + combining acute)", "cafe\u0301"],
  ["right-to-left mark", "acct\u200F1"],
  ["right-to-left override", "\u202Eacct-1"],
  ["'; DROP TABLE", "'; DROP TABLE accounts; --"],
];

const INT53_PLUS_1 = 2n ** 53n + 1n;
const INT64_MAX = 2n ** 63n - 1n;
const INT32_MAX = 2 ** 31 - 1;

/** How a numeric field treats 0: a valid read (answer OK), a valid write (not a bad input: left out), or refused. */
type Zero = "read" | "write" | "refused" | { field: string };

type NumberTarget = [
  service: ServiceName,
  method: string,
  field: string,
  build: (value: bigint) => unknown,
  zero: Zero,
];

function numberTargets(r: ReturnType<typeof requests>): NumberTarget[] {
  const n = (
    service: ServiceName,
    method: string,
    field: string,
    build: (v: bigint) => unknown,
    zero: Zero,
  ): NumberTarget => [service, method, field, build, zero];
  const tier = (o: object) => r.setPricingConfig({ tiers: [{ aboveInputTokens: 1000n, ...o }] });
  return [
    n("token", "countTokens", "input_tokens", (v) => r.countTokens({ inputTokens: v }), "read"),
    n("token", "countTokens", "output_tokens", (v) => r.countTokens({ outputTokens: v }), "read"),
    n("token", "trackTokens", "usage.input_tokens", (v) => r.trackUsage({ inputTokens: v }), {
      field: "usage.cached_input_tokens",
    }),
    n("token", "trackTokens", "usage.output_tokens", (v) => r.trackUsage({ outputTokens: v }), "write"),
    n(
      "token",
      "trackTokens",
      "usage.cached_input_tokens",
      (v) => r.trackUsage({ cachedInputTokens: v }),
      "write",
    ),
    n(
      "token",
      "trackTokens",
      "usage.cache_write_tokens",
      (v) => r.trackUsage({ cacheWriteTokens: v }),
      "write",
    ),
    n(
      "token",
      "trackTokensBatch",
      "items[1].usage.output_tokens",
      (v) => r.trackTokensBatch({ usage: { ...USAGE, outputTokens: v } }),
      "write",
    ),
    n(
      "pricing",
      "calculatePricing",
      "usage.input_tokens",
      (v) => r.calculatePricing({ usage: { ...USAGE, inputTokens: v } }),
      { field: "usage.cached_input_tokens" },
    ),
    n(
      "pricing",
      "calculatePricing",
      "usage.output_tokens",
      (v) => r.calculatePricing({ usage: { ...USAGE, outputTokens: v } }),
      "read",
    ),
    n(
      "pricing",
      "setPricingConfig",
      "price.input_micros_per_mtok",
      (v) => r.setPricingConfig({ inputMicrosPerMtok: v }),
      "write",
    ),
    n(
      "pricing",
      "setPricingConfig",
      "price.output_micros_per_mtok",
      (v) => r.setPricingConfig({ outputMicrosPerMtok: v }),
      "write",
    ),
    n(
      "pricing",
      "setPricingConfig",
      "price.cached_input_micros_per_mtok",
      (v) => r.setPricingConfig({ cachedInputMicrosPerMtok: v }),
      "write",
    ),
    n(
      "pricing",
      "setPricingConfig",
      "price.cache_write_micros_per_mtok",
      (v) => r.setPricingConfig({ cacheWriteMicrosPerMtok: v }),
      "write",
    ),
    n(
      "pricing",
      "setPricingConfig",
      "price.tiers[0].above_input_tokens",
      (v) => r.setPricingConfig({ tiers: [{ aboveInputTokens: v }] }),
      "write",
    ),
    n(
      "pricing",
      "setPricingConfig",
      "price.tiers[0].output_micros_per_mtok",
      (v) => tier({ outputMicrosPerMtok: v }),
      "write",
    ),
    n(
      "settlement",
      "calculateSettlement",
      "total_cost_micros",
      (v) => r.calculateSettlement({ totalCostMicros: v }),
      "read",
    ),
    n(
      "preauth",
      "preAuthorize",
      "estimated_input_tokens",
      (v) => r.preAuthorize({ estimatedInputTokens: v }),
      "write",
    ),
    n("preauth", "preAuthorize", "max_output_tokens", (v) => r.preAuthorize({ maxOutputTokens: v }), "write"),
    n("preauth", "capturePreAuth", "usage.input_tokens", (v) => r.captureUsage({ inputTokens: v }), {
      field: "usage.cached_input_tokens",
    }),
    n(
      "preauth",
      "capturePreAuth",
      "usage.output_tokens",
      (v) => r.captureUsage({ outputTokens: v }),
      "write",
    ),
    n("account", "creditAccount", "amount_micros", (v) => r.creditAccount({ amountMicros: v }), "refused"),
    n(
      "account",
      "setCreditLimit",
      "credit_limit_micros",
      (v) => r.setCreditLimit({ creditLimitMicros: v }),
      "write",
    ),
  ];
}

/** Every bad input of the table: hostile and missing ids, out-of-range numbers, NUL in stored text. */
export function badInputCases(preauth: () => string): BadInputCase[] {
  const r = requests(preauth);
  const cases: BadInputCase[] = [];
  const refused = (
    name: string,
    service: ServiceName,
    method: string,
    field: string,
    request: () => unknown,
  ) => cases.push({ name, service, method, request, code: "INVALID_ARGUMENT", field });
  for (const [service, method, field, build, required] of idTargets(r)) {
    const make = build as (v: string) => unknown;
    for (const [label, value] of HOSTILE_IDS)
      refused(`${field} ${label}`, service, method, field, () => make(value));
    if (required) refused(`${field} missing`, service, method, field, () => make(""));
  }
  for (const [service, method, field, build, zero] of numberTargets(r)) {
    for (const value of [-1n, INT53_PLUS_1, INT64_MAX]) {
      refused(`${field} = ${value}`, service, method, field, () => build(value));
    }
    if (zero === "refused") refused(`${field} = 0`, service, method, field, () => build(0n));
    else if (zero === "read")
      cases.push({ name: `${field} = 0`, service, method, request: () => build(0n), code: "OK" });
    else if (zero !== "write") refused(`${field} = 0`, service, method, zero.field, () => build(0n));
  }
  const int32: [ServiceName, string, string, (v: number) => unknown, number[]][] = [
    [
      "settlement",
      "getSettlementHistory",
      "page_size",
      (v) => r.getSettlementHistory({ pageSize: v }),
      [-1, INT32_MAX],
    ],
    ["preauth", "preAuthorize", "ttl_seconds", (v) => r.preAuthorize({ ttlSeconds: v }), [-1, INT32_MAX]],
    ["settlement", "rerunFailedSettlements", "limit", (v) => r.rerunFailedSettlements({ limit: v }), [-1]],
  ];
  for (const [service, method, field, build, values] of int32) {
    for (const value of values) refused(`${field} = ${value}`, service, method, field, () => build(value));
  }
  refused("usage missing", "token", "trackTokens", "usage", () => r.trackTokens({ usage: undefined }));
  refused("usage missing", "pricing", "calculatePricing", "usage", () =>
    r.calculatePricing({ usage: undefined }),
  );
  refused("usage missing", "preauth", "capturePreAuth", "usage", () =>
    r.capturePreAuth({ usage: undefined }),
  );
  refused("price missing", "pricing", "setPricingConfig", "price", () =>
    SetPricingConfigRequest.fromPartial({ requestId: "bad-1" }),
  );
  // Text Heidrun stores or queries with: PostgreSQL text cannot hold NUL, so it must be refused at the door.
  const nul: [ServiceName, string, string, () => unknown][] = [
    ["account", "creditAccount", "reference", () => r.creditAccount({ reference: "ref\u0000" })],
    ["preauth", "cancelPreAuth", "reason", () => r.cancelPreAuth({ reason: "why\u0000" })],
    [
      "settlement",
      "rerunFailedSettlements",
      "reason_contains",
      () => r.rerunFailedSettlements({ reasonContains: "x\u0000" }),
    ],
    [
      "settlement",
      "getSettlementHistory",
      "page_token",
      () => r.getSettlementHistory({ pageToken: "\u0000" }),
    ],
  ];
  for (const [service, method, field, build] of nul)
    refused(`NUL in ${field}`, service, method, field, build);
  return cases;
}

/** tokens × price at the largest values the spec allows: exact in int64, no float anywhere. */
export const LARGEST_PRICING = CalculatePricingRequest.fromPartial({
  providerId: "priciest",
  model: "some-model",
  usage: { inputTokens: 10n ** 12n, outputTokens: 10n ** 12n, cachedInputTokens: 0n, cacheWriteTokens: 0n },
});
