import type { Usage } from "@heidrun/proto";

/** A settlement the simulator expects Heidrun to write, from the answers it got. */
export interface ExpectedSettlement {
  requestId: string;
  accountId: string;
  providerId: string;
  model: string;
  usage: Usage;
  /** `failed`: the model has no price, so the settlement must be FAILED and charge nothing. */
  status: "settled" | "failed";
  /** What calculateCost gives with the price Heidrun quoted (0 when failed). */
  totalCostMicros: bigint;
  /** Set for a captured pre-authorization. */
  preauthId?: string;
}

/** The simulator's own books: what it paid in, what it expects charged, and every disagreement seen. */
export class Books {
  /** Accounts this run funded; their balances are checked at the end. */
  readonly accounts = new Set<string>();
  readonly credits = new Map<string, bigint>();
  readonly settlements = new Map<string, ExpectedSettlement>();
  /** Pre-authorizations left to lapse: each must end EXPIRED with its hold released. */
  readonly expiries: { preauthId: string; accountId: string }[] = [];
  readonly differences: string[] = [];

  credit(accountId: string, amountMicros: bigint): void {
    this.accounts.add(accountId);
    this.credits.set(accountId, (this.credits.get(accountId) ?? 0n) + amountMicros);
  }

  expect(settlement: ExpectedSettlement): void {
    if (this.settlements.has(settlement.requestId)) {
      this.differ(`${settlement.requestId}: the simulator expected it twice (a bug in the simulator)`);
    }
    this.settlements.set(settlement.requestId, settlement);
  }

  differ(message: string): void {
    this.differences.push(message);
  }

  /** credits − expected settled totals: the balance Heidrun should report once every settlement is written. */
  expectedBalance(accountId: string): bigint {
    let balance = this.credits.get(accountId) ?? 0n;
    for (const s of this.settlements.values()) {
      if (s.accountId === accountId && s.status === "settled") balance -= s.totalCostMicros;
    }
    return balance;
  }

  expectedFor(accountId: string): ExpectedSettlement[] {
    return [...this.settlements.values()].filter((s) => s.accountId === accountId);
  }

  /** Every account with money or a settlement in these books. */
  allAccounts(): string[] {
    const ids = new Set(this.accounts);
    for (const s of this.settlements.values()) ids.add(s.accountId);
    return [...ids].sort();
  }
}

/** Deep equality for protobuf messages as ts-proto decodes them (bigint, Date, arrays, plain objects). */
export function sameMessage(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameMessage(item, b[i]));
  }
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      if (!sameMessage((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
        return false;
    }
    return true;
  }
  return false;
}

/** A message as one readable line (bigints as digits). */
export function show(message: unknown): string {
  return JSON.stringify(message, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
}
