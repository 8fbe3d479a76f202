import { DomainError } from "@heidrun/core";
import {
  type ChatMessage,
  Granularity,
  GroupBy,
  type PriceConfig,
  SettlementStatus,
  type TrackTokensRequest,
} from "@heidrun/proto";
import type { IngressHandlers } from "./context";
import * as rule from "./validation-rules";

/** What validation needs besides the request: the clock and the settings in force. */
export interface ValidationContext {
  nowMs: number;
  maxTtlSeconds: number;
}

type RequestOf<H> = H extends (request: infer Req, ...rest: never[]) => unknown ? Req : never;

/** One validator per method of every service: throws DomainError.invalid naming the field path. */
export type RequestValidators = {
  [S in keyof IngressHandlers]: {
    [M in keyof IngressHandlers[S]]: (
      request: RequestOf<IngressHandlers[S][M]>,
      ctx: ValidationContext,
    ) => void;
  };
};

const at = rule.fieldPath;
const GRANULARITIES = [
  Granularity.GRANULARITY_UNSPECIFIED,
  Granularity.GRANULARITY_HOUR,
  Granularity.GRANULARITY_DAY,
  Granularity.GRANULARITY_MONTH,
];
const GROUP_BYS = [GroupBy.GROUP_BY_PROVIDER, GroupBy.GROUP_BY_ACCOUNT, GroupBy.GROUP_BY_MODEL];
const SETTLEMENT_STATUSES = [
  SettlementStatus.SETTLEMENT_STATUS_UNSPECIFIED,
  SettlementStatus.SETTLEMENT_STATUS_SETTLED,
  SettlementStatus.SETTLEMENT_STATUS_FAILED,
];
const INT32_MAX = 2_147_483_647;
const CURRENCY_CODE = /^[A-Z]{3}$/;

function messagesText(messages: readonly ChatMessage[], budget: rule.CountingTextBudget): void {
  messages.forEach((message, index) => {
    budget.add(message.role, `messages[${index}].role`);
    budget.add(message.content, `messages[${index}].content`);
    budget.add(message.name, `messages[${index}].name`);
  });
}

export function validateTrackTokensRequest(
  request: TrackTokensRequest,
  ctx: ValidationContext,
  prefix = "",
): void {
  rule.requiredId(request.requestId, at(prefix, "request_id"));
  rule.requiredId(request.accountId, at(prefix, "account_id"));
  rule.requiredId(request.providerId, at(prefix, "provider_id"));
  rule.requiredModel(request.model, at(prefix, "model"), false);
  rule.usage(request.usage, at(prefix, "usage"));
  rule.notFarFuture(request.occurredAt, at(prefix, "occurred_at"), ctx.nowMs);
}

/** PriceConfig as given to SetPricingConfig: version is Heidrun's to assign and is ignored. */
export function validatePriceConfig(price: PriceConfig | undefined, prefix: string): void {
  if (price === undefined) throw DomainError.invalid(prefix, "is required");
  rule.requiredId(price.providerId, at(prefix, "provider_id"));
  rule.requiredModel(price.model, at(prefix, "model"), true);
  rule.price(price.inputMicrosPerMtok, at(prefix, "input_micros_per_mtok"));
  rule.price(price.outputMicrosPerMtok, at(prefix, "output_micros_per_mtok"));
  rule.optionalPrice(price.cachedInputMicrosPerMtok, at(prefix, "cached_input_micros_per_mtok"));
  rule.optionalPrice(price.cacheWriteMicrosPerMtok, at(prefix, "cache_write_micros_per_mtok"));
  rule.timestamp(price.effectiveFrom, at(prefix, "effective_from"));
  if (price.currency !== "" && !CURRENCY_CODE.test(price.currency)) {
    throw DomainError.invalid(at(prefix, "currency"), "must be an ISO 4217 code such as USD, or empty");
  }
  const thresholds = new Set<bigint>();
  price.tiers.forEach((tier, index) => {
    const tierAt = (name: string) => at(prefix, `tiers[${index}].${name}`);
    rule.tokenCount(tier.aboveInputTokens, tierAt("above_input_tokens"));
    if (thresholds.has(tier.aboveInputTokens)) {
      throw DomainError.invalid(tierAt("above_input_tokens"), `duplicate threshold ${tier.aboveInputTokens}`);
    }
    thresholds.add(tier.aboveInputTokens);
    rule.optionalPrice(tier.inputMicrosPerMtok, tierAt("input_micros_per_mtok"));
    rule.optionalPrice(tier.outputMicrosPerMtok, tierAt("output_micros_per_mtok"));
    rule.optionalPrice(tier.cachedInputMicrosPerMtok, tierAt("cached_input_micros_per_mtok"));
    rule.optionalPrice(tier.cacheWriteMicrosPerMtok, tierAt("cache_write_micros_per_mtok"));
  });
}

export const requestValidators: RequestValidators = {
  token: {
    countTokens(request) {
      rule.optionalId(request.requestId, "request_id");
      rule.optionalId(request.providerId, "provider_id");
      rule.requiredModel(request.model, "model", false);
      rule.atMostOne(
        [
          ["input_text", request.inputText !== ""],
          ["messages", request.messages.length > 0],
          ["input_tokens", request.inputTokens !== 0n],
        ],
        "the input",
      );
      rule.atMostOne(
        [
          ["output_text", request.outputText !== ""],
          ["output_tokens", request.outputTokens !== 0n],
        ],
        "the output",
      );
      rule.tokenCount(request.inputTokens, "input_tokens");
      rule.tokenCount(request.outputTokens, "output_tokens");
      const budget = new rule.CountingTextBudget();
      budget.add(request.inputText, "input_text");
      messagesText(request.messages, budget);
      budget.add(request.outputText, "output_text");
    },
    trackTokens: (request, ctx) => validateTrackTokensRequest(request, ctx),
    trackTokensBatch(request, ctx) {
      if (request.items.length > rule.MAX_BATCH_ITEMS) {
        throw DomainError.invalid(
          "items",
          `must hold at most ${rule.MAX_BATCH_ITEMS} items, got ${request.items.length}`,
        );
      }
      for (const [index, item] of request.items.entries())
        validateTrackTokensRequest(item, ctx, `items[${index}]`);
    },
    aggregateTokens(request) {
      rule.optionalId(request.providerId, "provider_id");
      rule.optionalId(request.accountId, "account_id");
      rule.optionalModel(request.model, "model", false);
      rule.timeRange(request.from, request.to, "from", "to");
      rule.knownEnum(request.granularity, GRANULARITIES, "granularity");
      for (const [index, groupBy] of request.groupBy.entries()) {
        rule.knownEnum(groupBy, GROUP_BYS, `group_by[${index}]`);
      }
    },
  },
  pricing: {
    calculatePricing(request) {
      rule.optionalId(request.requestId, "request_id");
      rule.requiredId(request.providerId, "provider_id");
      rule.requiredModel(request.model, "model", true);
      rule.usage(request.usage, "usage");
      rule.timestamp(request.at, "at");
    },
    getPricingConfig(request) {
      rule.requiredId(request.providerId, "provider_id");
      rule.optionalModel(request.model, "model", true);
      rule.timestamp(request.at, "at");
    },
    setPricingConfig(request) {
      rule.requiredId(request.requestId, "request_id");
      validatePriceConfig(request.price, "price");
    },
  },
  settlement: {
    calculateSettlement(request) {
      rule.optionalId(request.requestId, "request_id");
      rule.nonNegativeAmount(request.totalCostMicros, "total_cost_micros");
      rule.requiredId(request.providerId, "provider_id");
    },
    getSettlementHistory(request) {
      rule.optionalId(request.providerId, "provider_id");
      rule.optionalId(request.accountId, "account_id");
      rule.timeRange(request.from, request.to, "from", "to");
      rule.knownEnum(request.status, SETTLEMENT_STATUSES, "status");
      rule.int32Range(request.pageSize, "page_size", 0, rule.MAX_PAGE_SIZE);
      rule.freeText(request.pageToken, "page_token");
    },
    rerunFailedSettlements(request) {
      rule.requiredId(request.requestId, "request_id");
      rule.optionalId(request.providerId, "provider_id");
      rule.timeRange(request.failedFrom, request.failedTo, "failed_from", "failed_to");
      rule.freeText(request.reasonContains, "reason_contains");
      rule.int32Range(request.limit, "limit", 0, INT32_MAX);
    },
  },
  preauth: {
    preAuthorize(request, ctx) {
      rule.requiredId(request.requestId, "request_id");
      rule.requiredId(request.accountId, "account_id");
      rule.requiredId(request.providerId, "provider_id");
      rule.requiredModel(request.model, "model", false);
      rule.atMostOne(
        [
          ["estimated_input_tokens", request.estimatedInputTokens !== 0n],
          ["prompt_text", request.promptText !== ""],
          ["messages", request.messages.length > 0],
        ],
        "the input",
      );
      rule.tokenCount(request.estimatedInputTokens, "estimated_input_tokens");
      rule.tokenCount(request.maxOutputTokens, "max_output_tokens");
      const budget = new rule.CountingTextBudget();
      budget.add(request.promptText, "prompt_text");
      messagesText(request.messages, budget);
      rule.int32Range(request.ttlSeconds, "ttl_seconds", 0, ctx.maxTtlSeconds);
    },
    capturePreAuth(request) {
      rule.requiredId(request.requestId, "request_id");
      rule.requiredId(request.preauthId, "preauth_id");
      rule.usage(request.usage, "usage");
    },
    cancelPreAuth(request) {
      rule.requiredId(request.requestId, "request_id");
      rule.requiredId(request.preauthId, "preauth_id");
      rule.freeText(request.reason, "reason");
    },
    getPreAuth(request) {
      rule.requiredId(request.preauthId, "preauth_id");
    },
  },
  account: {
    creditAccount(request) {
      rule.requiredId(request.requestId, "request_id");
      rule.requiredId(request.accountId, "account_id");
      rule.positiveAmount(request.amountMicros, "amount_micros");
      rule.freeText(request.reference, "reference");
    },
    setCreditLimit(request) {
      rule.requiredId(request.requestId, "request_id");
      rule.requiredId(request.accountId, "account_id");
      rule.nonNegativeAmount(request.creditLimitMicros, "credit_limit_micros");
    },
    getBalance(request) {
      rule.requiredId(request.accountId, "account_id");
    },
  },
};
