import { type AccountBalance, creditAccount, getBalance, setCreditLimit } from "@heidrun/db";
import type { Balance } from "@heidrun/proto";
import type { AccountHandlers, IngressDeps } from "../context";

function toBalance(balance: AccountBalance): Balance {
  return {
    accountId: balance.accountId,
    balanceMicros: balance.balanceMicros,
    heldMicros: balance.heldMicros,
    availableMicros: balance.availableMicros,
    creditLimitMicros: balance.creditLimitMicros,
    currency: balance.currency,
  };
}

/**
 * heidrun.v1.AccountService. Credits and limits are idempotent by request_id (the first answer is stored with
 * the operation and replayed); available = balance + credit_limit − held.
 */
export function createAccountHandlers(deps: Pick<IngressDeps, "db">): AccountHandlers {
  return {
    async creditAccount(request, ctx) {
      const { balance } = await creditAccount(deps.db, {
        requestId: request.requestId,
        accountId: request.accountId,
        amountMicros: request.amountMicros,
        reference: request.reference,
        actor: ctx.principal.keyId,
      });
      return { balance: toBalance(balance) };
    },
    async setCreditLimit(request, ctx) {
      const { balance } = await setCreditLimit(deps.db, {
        requestId: request.requestId,
        accountId: request.accountId,
        creditLimitMicros: request.creditLimitMicros,
        actor: ctx.principal.keyId,
      });
      return { balance: toBalance(balance) };
    },
    async getBalance(request, _ctx) {
      return { balance: toBalance(await getBalance(deps.db, request.accountId)) };
    },
  };
}
