/**
 * The stream hub: runs answers as {@link Producer}s that belong to no
 * socket and connects subscribers to them, locally or, for an answer
 * running on another instance, by reading the {@link StreamLog}.
 *
 * While a client is attached, events live only in memory (the hot path
 * costs an array push). From the moment an answer loses its last
 * subscriber its events go to the stream log, which is what a reconnect to
 * another instance needs; it costs nothing while clients stay connected.
 * A reader of another instance's answer waits for wake-ups from the log
 * (no polling where the engine has them) and ends the answer with
 * `interrupted` when that instance's lease lapses: it died.
 * @module
 */
import { ErrorCode } from "../../protocol/codes.ts";
import type { ChatCore, CoreEvent } from "../core.ts";
import { delay } from "../delay.ts";
import type { BudgetSlot } from "../guards/answer_budget.ts";
import type { Logger } from "../log.ts";
import type { LoggedEvent, LogRead, StreamLog } from "../store/types.ts";
import { Telemetry } from "../telemetry/mod.ts";
import { retried } from "./log_retry.ts";
import {
  type HubOptions,
  Producer,
  type ProducerHost,
  type StartRequest,
  type Subscriber,
} from "./producer.ts";

export { type HubOptions, Producer, type StartRequest, type Subscriber } from "./producer.ts";

/**
 * What a resume attempt found (`ahead`: the client claims a sequence
 * number the answer never produced).
 */
export type ResumeResult = "resumed" | "unknown" | "forbidden" | "unavailable" | "ahead";

/** Why a new answer was not started. */
export interface StartRefusal {
  code: ErrorCode;
  message: string;
  /** Seconds after which trying again may succeed. */
  retryAfter?: number;
}

/** Who starts an answer, for {@link StreamHub.open}. */
export interface StartOptions {
  /** The authenticated identity, when authentication is on. */
  identity?: string;
  /** The client's address: its budget key when authentication is off. */
  client?: string;
  /**
   * The client chose the request id: refuse it when the stream log still
   * holds an answer under it (another instance's, or a finished one).
   */
  clientChosenId?: boolean;
  /**
   * A slot {@link StreamHub.admit} already took for this answer (HTTP
   * transports check the budget before their response starts).
   */
  slot?: BudgetSlot;
}

/** The slot of an answer no budget counts: nothing to free. */
const NO_SLOT: BudgetSlot = () => {};

/** Runs answers as producers and connects subscribers to them. */
export class StreamHub implements ProducerHost {
  /** The chat core that runs turns. */
  readonly core: ChatCore;
  /** Where orphaned answers are logged. */
  readonly streamLog: StreamLog;
  /** Where failures are logged. */
  readonly logger: Logger;
  /** Timing settings. */
  readonly options: HubOptions;
  /** Where answers are traced and counted. */
  readonly telemetry: Telemetry;
  #producers = new Map<string, Producer>();
  #latest = new Map<string, Producer>();
  #draining = false;

  /** Creates a hub over the chat core and a stream log. */
  constructor(core: ChatCore, streamLog: StreamLog, logger: Logger, options: HubOptions) {
    this.core = core;
    this.streamLog = streamLog;
    this.logger = logger;
    this.options = options;
    this.telemetry = options.telemetry ?? new Telemetry();
  }

  /**
   * Starts an answer with `subscriber` attached from its first event,
   * unchecked; transports use {@link open}.
   */
  start(request: StartRequest, subscriber: Subscriber, identity?: string): Producer {
    const producer = new Producer(this, request, { identity, subscriber });
    this.#producers.set(request.requestId, producer);
    return producer;
  }

  /**
   * Starts an answer unless its request id is taken (running here, or in
   * the stream log when the client chose it) or its client is at its
   * answer budget; the budget slot is held until the answer ended.
   */
  async open(
    request: StartRequest,
    subscriber: Subscriber,
    options: StartOptions = {},
  ): Promise<Producer | StartRefusal> {
    const { requestId } = request;
    if (options.clientChosenId && await this.#logged(requestId)) {
      options.slot?.();
      return idInUse(requestId);
    }
    // Without a budget there is nothing to wait for before the answer starts.
    const admitted = options.slot ?? (this.options.budget ? await this.admit(options) : NO_SLOT);
    if (typeof admitted !== "function") return admitted;
    const slot = admitted;
    // Checked after the awaits: two starts of one id on this instance never both run.
    if (this.#producers.has(requestId)) {
      slot();
      return idInUse(requestId);
    }
    const producer = this.start(request, subscriber, options.identity);
    if (slot !== NO_SLOT) void producer.done.finally(slot);
    return producer;
  }

  /**
   * Takes a slot of the client's answer budget (identity, else address):
   * the function that frees it, or a `rate_limited` refusal. Answers
   * started with {@link open} take theirs there; an HTTP transport calls
   * this first so a refusal is a 429 before its response starts, then
   * passes the slot to {@link open}.
   */
  async admit(options: Pick<StartOptions, "identity" | "client">): Promise<
    BudgetSlot | StartRefusal
  > {
    const budget = this.options.budget;
    const key = options.identity ?? options.client;
    if (!budget || key === undefined) return NO_SLOT;
    const slot = await budget.acquire(key);
    if (typeof slot === "function") return slot;
    return { ...slot, code: slot.code ?? ErrorCode.RateLimited };
  }

  /** True when the stream log holds an answer under `requestId` (false when unreachable). */
  async #logged(requestId: string): Promise<boolean> {
    try {
      return (await this.streamLog.read(requestId, Number.MAX_SAFE_INTEGER)) !== undefined;
    } catch (error) {
      this.logger.error("Cannot read stream log", { request_id: requestId, error });
      return false;
    }
  }

  /**
   * Called by a producer once its session is known to be its identity's:
   * only then does it become the session's latest answer (an intruder's
   * refused turn never hides the owner's).
   */
  owned(producer: Producer): void {
    this.#latest.set(producer.sessionId, producer);
  }

  /** The answer with this request id running on this instance, if any. */
  local(requestId: string): Producer | undefined {
    return this.#producers.get(requestId);
  }

  /** Called by a producer when it has finished and flushed. */
  forget(producer: Producer): void {
    if (this.#producers.get(producer.requestId) === producer) {
      this.#producers.delete(producer.requestId);
    }
    if (this.#latest.get(producer.sessionId) === producer) this.#latest.delete(producer.sessionId);
  }

  /** True once {@link finishAll} was called: answers run to their end, logged. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Graceful restart: every answer running here goes on to its end, logged
   * under a lease, so its clients can resume it on another instance.
   * Resolves when all ended (the caller bounds the wait).
   */
  async finishAll(): Promise<void> {
    this.#draining = true;
    const running = [...this.#producers.values()];
    for (const producer of running) producer.holdForShutdown();
    await Promise.allSettled(running.map((producer) => producer.done));
  }

  /** Stops every answer running here with `reason` and waits until they ended. */
  async stopAll(reason?: unknown): Promise<void> {
    const running = [...this.#producers.values()];
    for (const producer of running) producer.cancel(reason);
    await Promise.allSettled(running.map((producer) => producer.done));
  }

  /**
   * The request id of the latest answer of a session still running or
   * logged, if it is `identity`'s (with authentication on, nothing about
   * another identity's answers is revealed).
   */
  async latest(sessionId: string, identity?: string): Promise<string | undefined> {
    const local = this.#latest.get(sessionId);
    if (local) return local.identity === identity ? local.requestId : undefined;
    const logged = await this.streamLog.latest(sessionId);
    if (logged === undefined || identity === undefined) return logged;
    const read = await this.streamLog.read(logged, Number.MAX_SAFE_INTEGER);
    return read?.identity === identity ? logged : undefined;
  }

  /**
   * Cancels an answer wherever it runs: here directly, elsewhere through
   * the log. Returns false when the answer is unknown, ended, not
   * `identity`'s, or its producer is gone (its lease lapsed: nothing would
   * act on the cancel; the answer ends `interrupted`). Throws when the
   * stream log cannot be reached ({@link cancelUnreachable} says so).
   */
  async cancel(requestId: string, identity?: string): Promise<boolean> {
    const found = await this.#find(requestId, Number.MAX_SAFE_INTEGER);
    if (found === "unavailable") throw new Error("Cannot cancel: the stream log is unreachable");
    if (found instanceof Producer) {
      if (found.identity !== identity) return false;
      found.cancel();
      return true;
    }
    const read = found;
    if (!read || read.ended || !read.alive || read.identity !== identity) return false;
    await retried(() => this.streamLog.requestCancel(requestId));
    return true;
  }

  /**
   * The answer's local producer, or its log after `afterSeq`. An answer
   * another instance just let go may not be in the log yet: look again for
   * up to `unknownWaitMs` before calling it unknown.
   */
  async #find(
    requestId: string,
    afterSeq: number,
    signal?: AbortSignal,
  ): Promise<Producer | LogRead | undefined | "unavailable"> {
    const deadline = Date.now() + this.options.unknownWaitMs;
    while (true) {
      const local = this.#producers.get(requestId);
      if (local) return local;
      let read: LogRead | undefined;
      try {
        read = await this.streamLog.read(requestId, afterSeq);
      } catch (error) {
        this.logger.error("Cannot read stream log", { request_id: requestId, error });
        return "unavailable";
      }
      if (read || Date.now() >= deadline || signal?.aborted) return read;
      await delay(this.options.logPollMs, signal);
    }
  }

  /**
   * Delivers every event after `afterSeq`, then the live ones, to
   * `subscriber`: from the local producer, or by following the log while
   * the answer runs elsewhere. Following stops when `signal` aborts.
   */
  async resume(
    requestId: string,
    afterSeq: number,
    subscriber: Subscriber,
    options: { signal: AbortSignal; identity?: string; onAttach?: (producer: Producer) => void },
  ): Promise<ResumeResult> {
    const local = this.#producers.get(requestId);
    if (local) {
      if (local.identity !== options.identity) return "forbidden";
      if (afterSeq >= local.events.length) return "ahead";
      options.onAttach?.(local);
      await local.subscribe(subscriber, afterSeq);
      return "resumed";
    }
    const found = await this.#find(requestId, afterSeq, options.signal);
    if (found === "unavailable") return "unavailable";
    if (found instanceof Producer) return this.resume(requestId, afterSeq, subscriber, options);
    if (!found) return "unknown";
    if (found.identity !== options.identity) return "forbidden";
    return await this.#follow(requestId, found, afterSeq, subscriber, options.signal);
  }

  /**
   * Follows an answer another instance produces: delivers what the log
   * holds and waits for wake-ups; ends the answer with `interrupted` when
   * its producer's lease lapsed or the log expired, and with `unavailable`
   * when the log stays unreachable for a lease's length. `ahead` when the
   * answer ended before `afterSeq` (the log may lag a live producer, so
   * only an ended answer proves the client's claim false).
   */
  async #follow(
    requestId: string,
    first: LogRead,
    afterSeq: number,
    subscriber: Subscriber,
    signal: AbortSignal,
  ): Promise<"resumed" | "ahead"> {
    const { tailWaitMs, leaseMs } = this.options;
    let read = first;
    let seen = afterSeq;
    let failingSince: number | undefined;
    while (true) {
      if (read.ended && afterSeq >= read.next) return "ahead";
      for (const item of read.events) {
        await subscriber.deliver(item);
        seen = item.seq;
      }
      if (read.ended || signal.aborted) return "resumed";
      try {
        // From the read just delivered: an append since then ends the wait at once.
        const wait = { next: read.next, timeoutMs: tailWaitMs, signal };
        if (!read.alive) await this.#interrupt(requestId, read, seen);
        else await this.streamLog.waitForEvents(requestId, wait);
        const next = await this.streamLog.read(requestId, seen);
        if (!next) {
          await subscriber.deliver(finalEvent(seen, interrupted()));
          return "resumed";
        }
        read = next;
        failingSince = undefined;
      } catch (error) {
        failingSince ??= Date.now();
        if (Date.now() - failingSince > leaseMs) {
          this.logger.error("Cannot follow answer: stream log unreachable", {
            request_id: requestId,
            error,
          });
          await subscriber.deliver(finalEvent(seen, unavailable()));
          return "resumed";
        }
        read = { ...read, events: [] };
        await delay(tailWaitMs, signal);
      }
    }
  }

  /**
   * Ends an answer whose producer died: the first reader to seal the log
   * appends `interrupted`, and keeps the partial turn in history.
   */
  async #interrupt(requestId: string, read: LogRead, seen: number): Promise<void> {
    const final = finalEvent(Math.max(read.next - 1, seen), interrupted());
    if (!await retried(() => this.streamLog.seal(requestId, final))) return;
    this.telemetry.interrupted();
    this.logger.error("Answer interrupted: its producing instance stopped", {
      request_id: requestId,
    });
    const all = await this.streamLog.read(requestId, -1);
    let answer = "";
    const tools: string[] = [];
    for (const { event } of all?.events ?? []) {
      if (event.type === "text-delta") answer += event.delta;
      else if (event.type === "tool-call") tools.push(event.toolName);
    }
    await this.core.record(read.sessionId, {
      query: read.query,
      answer,
      tools,
      finishReason: "interrupted",
      at: Date.now(),
    });
  }
}

/** What a cancel says when the answer may run elsewhere and the stream log cannot be reached. */
export function cancelUnreachable(requestId: string | undefined): string {
  return `Cannot cancel "${requestId}": the shared store is unreachable; try again shortly`;
}

/** The refusal of a request id that names another answer. */
function idInUse(requestId: string): StartRefusal {
  return {
    code: ErrorCode.InvalidFrame,
    message:
      `Cannot start: request_id "${requestId}" is already in use; choose a new id for each answer`,
  };
}

/** The event after `seen`. */
function finalEvent(seen: number, event: CoreEvent): LoggedEvent {
  return { seq: seen + 1, event };
}

/** The end of an answer whose producing instance died. */
function interrupted(): CoreEvent {
  return {
    type: "error",
    code: ErrorCode.Interrupted,
    message: "The server producing this answer stopped before it finished; please ask again",
  };
}

/** The end for a reader that lost the shared store mid-answer. */
function unavailable(): CoreEvent {
  return {
    type: "error",
    code: ErrorCode.Unavailable,
    message: "Cannot follow the answer: the shared store is unreachable; resume again shortly",
  };
}
