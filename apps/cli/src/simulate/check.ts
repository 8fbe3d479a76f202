import { status } from "@grpc/grpc-js";
import { splitCommission } from "@heidrun/core";
import { type Balance, PreAuthStatus, type Settlement, SettlementStatus } from "@heidrun/proto";
import { type Books, type ExpectedSettlement, sameMessage, show } from "./books";
import { type HeidrunClient, statusName } from "./client";
import type { PriceBook } from "./prices";

export interface CheckOptions {
  /** How long to wait for the settlement queue to drain and holds to lapse. */
  timeoutMs: number;
  pollMs?: number;
  /** Called while waiting, with what is still outstanding. */
  onWait?: (outstanding: string) => void;
}

export interface CheckSummary {
  accounts: number;
  expectedSettled: number;
  expectedFailed: number;
  waitedMs: number;
  drained: boolean;
}

interface AccountState {
  history: Map<string, Settlement>;
  balance: Balance | undefined;
}

async function historyOf(client: HeidrunClient, accountId: string): Promise<Map<string, Settlement>> {
  const rows = new Map<string, Settlement>();
  let pageToken = "";
  do {
    const answer = await client.call(
      "settlement.getSettlementHistory",
      client.settlement.getSettlementHistory.bind(client.settlement),
      {
        providerId: "",
        accountId,
        status: SettlementStatus.SETTLEMENT_STATUS_UNSPECIFIED,
        pageSize: 1000,
        pageToken,
      },
      false,
    );
    if (!answer.ok) throw new Error(`GetSettlementHistory ${accountId}: ${answer.message}`);
    for (const row of answer.response.settlements) rows.set(row.requestId, row);
    pageToken = answer.response.nextPageToken;
  } while (pageToken !== "");
  return rows;
}

async function stateOf(client: HeidrunClient, accountId: string): Promise<AccountState> {
  const [history, balance] = await Promise.all([
    historyOf(client, accountId),
    client.call("account.getBalance", client.account.getBalance.bind(client.account), { accountId }, false),
  ]);
  if (!balance.ok && balance.code !== status.NOT_FOUND) {
    throw new Error(`GetBalance ${accountId}: ${balance.message}`);
  }
  return { history, balance: balance.ok ? balance.response.balance : undefined };
}

function outstanding(books: Books, states: Map<string, AccountState>): string[] {
  const missing = [...books.settlements.values()].filter(
    (s) => !states.get(s.accountId)?.history.has(s.requestId),
  ).length;
  const holding = [...states.values()].filter((s) => (s.balance?.heldMicros ?? 0n) > 0n).length;
  const parts: string[] = [];
  if (missing > 0) parts.push(`${missing} settlements not written yet`);
  if (holding > 0) parts.push(`${holding} accounts still holding funds`);
  return parts;
}

function compareSettlement(
  books: Books,
  prices: PriceBook,
  expected: ExpectedSettlement,
  row: Settlement | undefined,
): void {
  const id = expected.requestId;
  if (!row) {
    books.differ(`${id}: no settlement (expected ${expected.status} ${expected.totalCostMicros} micros)`);
    return;
  }
  const wantStatus =
    expected.status === "settled"
      ? SettlementStatus.SETTLEMENT_STATUS_SETTLED
      : SettlementStatus.SETTLEMENT_STATUS_FAILED;
  if (row.status !== wantStatus) {
    books.differ(
      `${id}: status ${SettlementStatus[row.status]}, expected ${expected.status} (${row.failureReason})`,
    );
    return;
  }
  const same = (field: string, got: unknown, want: unknown) => {
    if (!sameMessage(got, want)) books.differ(`${id}: ${field} ${show(got)}, expected ${show(want)}`);
  };
  same("provider/model", `${row.providerId}/${row.model}`, `${expected.providerId}/${expected.model}`);
  same("usage", row.usage, expected.usage);
  same("preauth_id", row.preauthId, expected.preauthId ?? "");
  if (expected.status === "failed") return;
  same("total_cost_micros", row.totalCostMicros, expected.totalCostMicros);
  const bps = prices.commissionBps.get(expected.providerId);
  if (bps !== undefined) {
    const split = splitCommission(expected.totalCostMicros, bps);
    same("commission_rate_bps", row.commissionRateBps, bps);
    same("company_fee_micros", row.companyFeeMicros, split.companyFeeMicros);
    same("provider_earnings_micros", row.providerEarningsMicros, split.providerEarningsMicros);
  }
}

function compareAccount(books: Books, prices: PriceBook, accountId: string, state: AccountState): void {
  const expected = books.expectedFor(accountId);
  const wanted = new Set(expected.map((s) => s.requestId));
  for (const s of expected) compareSettlement(books, prices, s, state.history.get(s.requestId));
  for (const row of state.history.values()) {
    if (!wanted.has(row.requestId))
      books.differ(`${row.requestId}: settlement the simulator did not cause: ${show(row)}`);
  }
  const sum = (rows: Iterable<{ totalCostMicros: bigint }>) =>
    [...rows].reduce((t, r) => t + r.totalCostMicros, 0n);
  const settledRows = [...state.history.values()].filter(
    (r) => r.status === SettlementStatus.SETTLEMENT_STATUS_SETTLED,
  );
  const expectedTotal = sum(expected.filter((s) => s.status === "settled"));
  if (sum(settledRows) !== expectedTotal) {
    books.differ(`${accountId}: settled total ${sum(settledRows)}, expected ${expectedTotal} micros`);
  }
  const balance = state.balance;
  if (!balance) {
    if (books.accounts.has(accountId))
      books.differ(`${accountId}: GetBalance answers NOT_FOUND for a funded account`);
    return;
  }
  const want = books.expectedBalance(accountId);
  if (balance.balanceMicros !== want) {
    books.differ(
      `${accountId}: balance ${balance.balanceMicros}, expected ${want} micros (credits − settled)`,
    );
  }
  if (balance.heldMicros !== 0n) books.differ(`${accountId}: ${balance.heldMicros} micros still held`);
  if (balance.availableMicros !== balance.balanceMicros + balance.creditLimitMicros - balance.heldMicros) {
    books.differ(`${accountId}: available ≠ balance + credit limit − held in ${show(balance)}`);
  }
}

async function compareExpiries(client: HeidrunClient, books: Books): Promise<void> {
  for (const { preauthId } of books.expiries) {
    const answer = await client.call(
      "preauth.getPreAuth",
      client.preauth.getPreAuth.bind(client.preauth),
      { preauthId },
      false,
    );
    if (!answer.ok) {
      books.differ(`${preauthId}: GetPreAuth ${statusName(answer.code)} (${answer.message})`);
      continue;
    }
    const p = answer.response.preauth;
    if (p?.status !== PreAuthStatus.PRE_AUTH_STATUS_EXPIRED || p.heldMicros !== 0n) {
      const got = p
        ? `${PreAuthStatus[p.status]} holding ${p.heldMicros}, expires_at ${p.expiresAt?.toISOString()}`
        : "nothing";
      books.differ(`${preauthId}: left to lapse, expected EXPIRED holding 0, got ${got}`);
    }
  }
}

/**
 * Waits until every expected settlement is written and no account holds funds (bounded by the timeout),
 * then compares the simulator's books with Heidrun's: each settlement (status, usage, total, split), each
 * account's settled total and balance, and each lapsed pre-authorization. Differences go into `books`.
 */
export async function checkBooks(
  client: HeidrunClient,
  books: Books,
  prices: PriceBook,
  options: CheckOptions,
): Promise<CheckSummary> {
  const started = Date.now();
  const accounts = books.allAccounts();
  let states = new Map<string, AccountState>();
  let drained = false;
  for (;;) {
    states = new Map(await Promise.all(accounts.map(async (id) => [id, await stateOf(client, id)] as const)));
    const left = outstanding(books, states);
    drained = left.length === 0;
    if (drained || Date.now() - started >= options.timeoutMs) break;
    options.onWait?.(left.join(", "));
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
  }
  if (!drained)
    books.differ(`still outstanding after ${options.timeoutMs} ms: ${outstanding(books, states).join(", ")}`);
  for (const id of accounts) compareAccount(books, prices, id, states.get(id)!);
  await compareExpiries(client, books);
  const all = [...books.settlements.values()];
  return {
    accounts: accounts.length,
    expectedSettled: all.filter((s) => s.status === "settled").length,
    expectedFailed: all.filter((s) => s.status === "failed").length,
    waitedMs: Date.now() - started,
    drained,
  };
}
