/**
 * The concurrent-answer budget: how many answers one client (its identity
 * with authentication on, else its address) may have running at once,
 * attached to a socket or not. An answer whose socket dropped keeps
 * running for the resume grace period and keeps its slot, so ask-and-drop
 * in a loop cannot run more answers than the budget.
 *
 * One small interface: `SharedAnswerBudget` (`budgets.ts`) keeps it in the
 * shared backend, across instances; {@link LocalAnswerBudget} counts in
 * this process.
 * @module
 */
import type { ErrorCode } from "../../protocol/codes.ts";

/** A slot in the budget, held while one answer runs. */
export type BudgetSlot = () => void;

/** Why no slot was given: what to tell the client, and when trying again may succeed. */
export interface BudgetRefusal {
  /** `unavailable` when the budget could not be checked (store down); default `rate_limited`. */
  code?: typeof ErrorCode.Unavailable;
  message: string;
  /** Seconds after which trying again may succeed. */
  retryAfter: number;
}

/** Seconds a client at its concurrent-answer limit is asked to wait. */
export const BUDGET_RETRY_S = 5;

/** Counts running answers per client. */
export interface AnswerBudget {
  /** The most answers a client may run at once (0: no limit). */
  readonly limit: number;
  /**
   * Takes a slot for `client`: the function that frees it (idempotent), or
   * a {@link BudgetRefusal} when the client is at its limit.
   */
  acquire(client: string): Promise<BudgetSlot | BudgetRefusal>;
}

/** The budget of one process: a count per client in memory. */
export class LocalAnswerBudget implements AnswerBudget {
  readonly limit: number;
  #running = new Map<string, number>();

  /** A budget of `limit` running answers per client; 0 counts but never refuses. */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Answers running for `client` now. */
  running(client: string): number {
    return this.#running.get(client) ?? 0;
  }

  /** {@link AnswerBudget.acquire}. */
  acquire(client: string): Promise<BudgetSlot | BudgetRefusal> {
    const current = this.running(client);
    if (this.limit > 0 && current >= this.limit) {
      return Promise.resolve({ message: budgetMessage(this.limit), retryAfter: BUDGET_RETRY_S });
    }
    this.#running.set(client, current + 1);
    let freed = false;
    return Promise.resolve(() => {
      if (freed) return;
      freed = true;
      const left = this.running(client) - 1;
      if (left <= 0) this.#running.delete(client);
      else this.#running.set(client, left);
    });
  }
}

/** The message of a refusal over the budget. */
export function budgetMessage(limit: number): string {
  return `Too many answers: at most ${limit} running at once per client (answers of dropped connections count until they end); wait for one to finish or cancel it`;
}
