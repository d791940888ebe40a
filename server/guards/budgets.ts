/**
 * Budgets per client key, held in the backend's {@link QuotaStore} so they
 * hold across connections and across the instances of a fleet: messages
 * per minute ({@link Budgets}), answers started per minute and running at
 * once ({@link SharedAnswerBudget}, the hub's {@link AnswerBudget}), upload
 * bytes per `STREAM_TTL_MS` (per key and per session), and the whole
 * store's upload bytes. The key is the authenticated identity when auth is on,
 * else the client address ({@link clientKeyOf}). A breach is a
 * {@link Refusal} (`rate_limited` with `retry_after`), never a silent drop.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ErrorCode } from "../../protocol/codes.ts";
import type { Config } from "../config.ts";
import { newId } from "../core.ts";
import {
  type AnswerBudget,
  BUDGET_RETRY_S,
  budgetMessage,
  type BudgetRefusal,
  type BudgetSlot,
} from "./answer_budget.ts";
import type { Logger } from "../log.ts";
import type { BucketRule, QuotaDecision, QuotaStore } from "../store/types.ts";
import type { ClientAddress } from "./connection_limit.ts";
import type { GuardEnv } from "./env.ts";

/** Why something was refused; `retryAfter` in seconds. */
export interface Refusal {
  ok: false;
  code: ErrorCode;
  message: string;
  retryAfter: number;
}

/** The client key of an identity or, with authentication off, of an address. */
export function clientKeyOf(identity: string | undefined, address: string): string {
  return identity !== undefined ? `id:${identity}` : `ip:${address}`;
}

/** Sets the `clientKey` variable (after authentication, which sets `identity`). */
export function clientKeyGuard(address: ClientAddress): MiddlewareHandler<GuardEnv> {
  return async (c, next) => {
    c.set("clientKey", clientKeyOf(c.get("identity"), address(c)));
    await next();
  };
}

const MINUTE_MS = 60_000;

/** The per-key budgets of one app. */
export class Budgets {
  #quotas: QuotaStore;
  #config: Config;
  #logger: Logger;

  /** Budgets from `config` over the shared `quotas`. */
  constructor(quotas: QuotaStore, config: Config, logger: Logger) {
    this.#quotas = quotas;
    this.#config = config;
    this.#logger = logger;
  }

  /** True when {@link message} counts messages (`KEY_MESSAGES_PER_MINUTE` is set). */
  get limitsMessages(): boolean {
    return this.#config.KEY_MESSAGES_PER_MINUTE !== 0;
  }

  /** Counts one inbound message of `key`; a refusal when over `KEY_MESSAGES_PER_MINUTE`. */
  async message(key: string): Promise<Refusal | undefined> {
    const limit = this.#config.KEY_MESSAGES_PER_MINUTE;
    if (limit === 0) return undefined;
    const refusal = await this.#take(
      `m:${key}`,
      1,
      perWindow(limit, MINUTE_MS),
      () => `Rate limit exceeded: at most ${limit} messages per minute per client`,
    );
    // While the store is unreachable messages pass (the per-socket limit
    // still holds): a cancel or a resume must get its own answer.
    return refusal?.code === ErrorCode.Unavailable ? undefined : refusal;
  }

  /**
   * Counts an upload of `bytes` against its session (`SESSION_UPLOAD_BYTES`),
   * its key (`KEY_UPLOAD_BYTES`) and the whole store (`STORE_UPLOAD_BYTES`),
   * each per `STREAM_TTL_MS` (how long uploads live).
   */
  async upload(key: string, sessionId: string, bytes: number): Promise<Refusal | undefined> {
    const { SESSION_UPLOAD_BYTES, KEY_UPLOAD_BYTES, STORE_UPLOAD_BYTES, STREAM_TTL_MS } =
      this.#config;
    const window = `${Math.round(STREAM_TTL_MS / 1000)} s`;
    const session = await this.#take(
      `us:${sessionId}`,
      bytes,
      perWindow(SESSION_UPLOAD_BYTES, STREAM_TTL_MS),
      () => `Cannot accept upload: at most ${SESSION_UPLOAD_BYTES} bytes per session per ${window}`,
    );
    if (session) return session;
    const own = await this.#take(
      `uk:${key}`,
      bytes,
      perWindow(KEY_UPLOAD_BYTES, STREAM_TTL_MS),
      () => `Cannot accept upload: at most ${KEY_UPLOAD_BYTES} bytes per client per ${window}`,
    );
    if (own) return own;
    const store = await this.#take(
      "store",
      bytes,
      perWindow(STORE_UPLOAD_BYTES, STREAM_TTL_MS),
      () => "Cannot accept upload: the service's upload storage is full; chat still works",
    );
    return store && { ...store, code: ErrorCode.StorageFull };
  }

  /** Takes from a bucket; `undefined` when granted or the rule is off (capacity 0). */
  #take(
    key: string,
    cost: number,
    rule: BucketRule,
    message: () => string,
  ): Promise<Refusal | undefined> {
    if (rule.capacity === 0) return Promise.resolve(undefined);
    const windowMs = rule.capacity / rule.refillPerSecond * 1000;
    return this.#guarded(() => this.#quotas.take(key, cost, rule), windowMs, message);
  }

  /** Runs a quota call; a refusal when refused, an `unavailable` one when the store failed. */
  async #guarded(
    call: () => Promise<QuotaDecision>,
    windowMs: number,
    message: () => string,
  ): Promise<Refusal | undefined> {
    let decision: QuotaDecision;
    try {
      decision = await call();
    } catch (error) {
      this.#logger.error("Cannot check budget: quota store failed", { error });
      return {
        ok: false,
        code: ErrorCode.Unavailable,
        message: "Cannot check the budget: the shared store is unreachable; try again shortly",
        retryAfter: 1,
      };
    }
    if (decision.ok) return undefined;
    const retryAfter = Math.max(1, Math.ceil(Math.min(decision.retryAfterMs, windowMs) / 1000));
    return { ok: false, code: ErrorCode.RateLimited, message: message(), retryAfter };
  }
}

/** A bucket of `amount` per `windowMs`, refilled evenly. */
function perWindow(amount: number, windowMs: number): BucketRule {
  return { capacity: amount, refillPerSecond: amount / (windowMs / 1000) };
}

/**
 * The hub's {@link AnswerBudget} in the shared backend: a new answer takes
 * one of `KEY_ANSWERS_PER_MINUTE` and one of `limit` running slots (a slot
 * lapses after `STREAM_TTL_MS` if its instance dies before freeing it), so
 * ask-and-reconnect loops are held fleet-wide. Refused, too, while the
 * store is unreachable (the answer could not be kept anyway).
 */
export class SharedAnswerBudget implements AnswerBudget {
  readonly limit: number;
  #quotas: QuotaStore;
  #config: Config;
  #logger: Logger;

  /** `limit` running answers per client key (0: none counted). */
  constructor(quotas: QuotaStore, config: Config, options: { limit: number; logger: Logger }) {
    this.limit = options.limit;
    this.#quotas = quotas;
    this.#config = config;
    this.#logger = options.logger;
  }

  /** {@link AnswerBudget.acquire}. */
  async acquire(client: string): Promise<BudgetSlot | BudgetRefusal> {
    try {
      const perMinute = this.#config.KEY_ANSWERS_PER_MINUTE;
      if (perMinute > 0) {
        const taken = await this.#quotas.take(`a:${client}`, 1, perWindow(perMinute, MINUTE_MS));
        if (!taken.ok) {
          return {
            message: `Too many answers: at most ${perMinute} started per minute per client`,
            retryAfter: Math.max(1, Math.ceil(Math.min(taken.retryAfterMs, MINUTE_MS) / 1000)),
          };
        }
      }
      if (this.limit === 0) return () => {};
      const slot = newId();
      const key = `c:${client}`;
      const options = { limit: this.limit, ttlMs: this.#config.STREAM_TTL_MS };
      if (!(await this.#quotas.acquire(key, slot, options)).ok) {
        return { message: budgetMessage(this.limit), retryAfter: BUDGET_RETRY_S };
      }
      let freed = false;
      return () => {
        if (freed) return;
        freed = true;
        this.#quotas.release(key, slot).catch((error) =>
          this.#logger.error("Cannot release answer slot", { client, error })
        );
      };
    } catch (error) {
      this.#logger.error("Cannot check answer budget: quota store failed", { client, error });
      return {
        code: ErrorCode.Unavailable,
        message:
          "Cannot check the answer budget: the shared store is unreachable; try again shortly",
        retryAfter: 1,
      };
    }
  }
}
