/**
 * One running answer ({@link Producer}): runs the turn in the chat core,
 * fans its events out to subscribers, keeps the answer running for a grace
 * period once the last one drops (to its end when the instance restarts),
 * and from then on writes its events to the stream log in batches, under a
 * lease it keeps renewing, and stops when another instance asks it to.
 * @module
 */
import { TurnControl } from "../turn_control.ts";
import { ErrorCode } from "../../protocol/codes.ts";
import { type ChatCore, type CoreEvent, isFinal, type TurnRequest } from "../core.ts";
import { delay } from "../delay.ts";
import type { AnswerBudget } from "../guards/answer_budget.ts";
import type { Logger } from "../log.ts";
import type { LoggedEvent, StreamLog } from "../store/types.ts";
import { type Context, ROOT_CONTEXT } from "@opentelemetry/api";
import type { AnswerTrace, Dialect, Telemetry, Transport } from "../telemetry/mod.ts";
import { retried } from "./log_retry.ts";

/** What the log writes of an answer start from (shared: most answers are never logged). */
const SETTLED: Promise<void> = Promise.resolve();

/** Receives the events of one answer, in order, each exactly once. */
export interface Subscriber {
  /** Called for each event; a returned promise slows the producer (backpressure). */
  deliver(item: LoggedEvent): void | Promise<void>;
}

/** Settings of the hub. */
export interface HubOptions {
  /** How long an answer with no subscriber keeps running. */
  graceMs: number;
  /** Longest delay before produced events reach the log (once logging). */
  flushMs: number;
  /** How often an orphaned answer checks the log for a cancel from elsewhere. */
  cancelPollMs: number;
  /** How often a resume looks again for an answer not logged yet. */
  logPollMs: number;
  /**
   * The producer's lease on a logged answer: renewed every third of it; a
   * reader that finds it lapsed ends the answer with `interrupted`.
   */
  leaseMs: number;
  /** Longest a reader waits for a wake-up before reading the log again. */
  tailWaitMs: number;
  /** Where answers are traced and counted; default: the global OpenTelemetry providers. */
  telemetry?: Telemetry;
  /**
   * How long a resume waits for an answer to appear in the log (another
   * instance may still be writing its first batch) before calling it unknown.
   */
  unknownWaitMs: number;
  /** Running answers per client (none: no budget). */
  budget?: AnswerBudget;
}

/** Where an answer was asked for: its transport, dialect and trace context. */
export interface AnswerOrigin {
  transport: Transport;
  dialect: Dialect;
  /** The context the answer's span continues (the socket's span, the request's). */
  parent?: Context;
}

/** A request the hub can start. */
export type StartRequest =
  & Required<Pick<TurnRequest, "query" | "sessionId" | "requestId">>
  & TurnRequest
  & { origin?: AnswerOrigin };

/** What a producer needs from the hub that runs it. */
export interface ProducerHost {
  /** The chat core that runs turns. */
  readonly core: ChatCore;
  /** Where orphaned answers are logged. */
  readonly streamLog: StreamLog;
  /** Where failures are logged. */
  readonly logger: Logger;
  /** Timing settings. */
  readonly options: HubOptions;
  /** True while the instance restarts: answers run to their end. */
  readonly draining: boolean;
  /** Where answers are traced and counted. */
  readonly telemetry: Telemetry;
  /** Called by a producer once its session is its identity's (the session's latest answer). */
  owned(producer: Producer): void;
  /** Called by a producer when it has finished and flushed. */
  forget(producer: Producer): void;
}

/** One running answer. */
export class Producer {
  /** The answer's request id. */
  readonly requestId: string;
  /** The session the answer belongs to. */
  readonly sessionId: string;
  /** Who started it (when authentication is on). */
  readonly identity: string | undefined;
  /** The question (logged, so a reader can keep the partial turn if this instance dies). */
  readonly query: string;
  /**
   * Every event so far, in order: event `i` has `seq` `i`. Kept bare (a
   * {@link LoggedEvent} is made for each delivery and dies young), so an
   * answer in flight holds one object per chunk, not two.
   */
  readonly events: CoreEvent[] = [];
  /** Settles when the answer ended and its log (if any) is flushed. */
  readonly done: Promise<void>;
  /** The answer's trace (span, first-chunk time, metrics). */
  readonly trace: AnswerTrace;
  #hub: ProducerHost;
  #subscribers = new Set<Subscriber>();
  /** Subscribers still being sent their backlog, and the events still to send them. */
  #joining = new Map<Subscriber, LoggedEvent[]>();
  #control = new TurnControl();
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #logging = false;
  #logged = 0;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** The log writes, in order (none until logging starts). */
  #writes: Promise<void> = SETTLED;
  /** True while a write of the events not logged yet is queued and not started. */
  #queued = false;
  /** Set once a log write failed: the log was sealed with `stream_lost` and takes nothing more. */
  #logLost = false;
  /** Stops the lease renewal and the cancel watch; made when logging starts. */
  #logStop: AbortController | undefined;
  /**
   * Settles true once the session is the identity's, false when the turn
   * ended without (refused): a refused answer is never logged, so it can
   * never become a session's latest answer. Made when logging starts (most
   * answers are never logged): {@link #isOwned} and {@link #refused} say it until then.
   */
  #owned: PromiseWithResolvers<boolean> | undefined;
  #isOwned = false;
  #refused = false;

  /**
   * Starts the answer at once; `options.subscriber` gets every event of
   * it as it is produced, from the first.
   */
  constructor(
    hub: ProducerHost,
    request: StartRequest,
    options: { identity: string | undefined; subscriber: Subscriber },
  ) {
    this.#hub = hub;
    this.requestId = request.requestId;
    this.sessionId = request.sessionId;
    this.identity = options.identity;
    this.#subscribers.add(options.subscriber);
    this.query = request.query;
    const origin = request.origin ?? { transport: "ws", dialect: "native" };
    this.trace = hub.telemetry.answer({
      transport: origin.transport,
      dialect: origin.dialect,
      agent: hub.core.agentName,
      requestId: this.requestId,
      sessionId: this.sessionId,
      parent: origin.parent ?? ROOT_CONTEXT,
    });
    // The lines are built only when written: this runs for every answer.
    if (hub.logger.enabled("debug")) {
      hub.logger.debug("Answer started", {
        request_id: this.requestId,
        session_id: this.sessionId,
        trace_id: this.trace.traceId,
        transport: origin.transport,
        dialect: origin.dialect,
        query_chars: request.query.length,
      });
    }
    this.done = this.#run(request, origin);
  }

  /** True once the final event was produced. */
  get ended(): boolean {
    const last = this.events.at(-1);
    return last !== undefined && isFinal(last);
  }

  /** Stops the answer; `reason` may be a `TurnStop` (see the core). */
  cancel(reason?: unknown): void {
    if (!this.#control.stopped && !this.ended) {
      const code = (reason as { code?: unknown } | undefined)?.code;
      this.trace.event("cancel", {
        "chat.cancel.reason": typeof code === "string" ? code : "cancel",
      });
    }
    this.#control.stop(reason);
  }

  /** Sends every event after `afterSeq`, then the live ones, to `subscriber`. */
  async subscribe(subscriber: Subscriber, afterSeq: number): Promise<void> {
    clearTimeout(this.#graceTimer);
    // Events produced while the backlog is replayed are appended to it; the
    // switch to live delivery happens with no await in between, so nothing
    // is missed or sent twice.
    const backlog = this.#items(afterSeq + 1);
    this.#joining.set(subscriber, backlog);
    try {
      for (let i = 0; i < backlog.length && this.#joining.has(subscriber); i++) {
        await subscriber.deliver(backlog[i]);
      }
    } catch (error) {
      this.#joining.delete(subscriber);
      throw error;
    }
    // Unsubscribed while catching up: stay out.
    if (this.#joining.delete(subscriber) && !this.ended) this.#subscribers.add(subscriber);
  }

  /**
   * Stops sending to `subscriber`. With none left, the answer is cancelled
   * at once when `keepAlive` is false (the client ended it on purpose),
   * else it goes on for the grace period, logged for a resume elsewhere.
   */
  unsubscribe(subscriber: Subscriber, keepAlive: boolean): void {
    if (!this.#subscribers.delete(subscriber) && !this.#joining.delete(subscriber)) return;
    // The client may have missed the tail, even of an ended answer: log it
    // so a reconnect anywhere can replay it.
    if (keepAlive) this.#startLogging();
    // A client still catching up counts as attached; a restarting instance
    // keeps every answer running until it ends.
    const attached = this.#subscribers.size + this.#joining.size;
    if (attached > 0 || this.ended || this.#hub.draining) return;
    const graceMs = this.#hub.options.graceMs;
    if (!keepAlive || graceMs === 0) {
      this.cancel();
      return;
    }
    clearTimeout(this.#graceTimer);
    this.#graceTimer = setTimeout(() => {
      if (this.#subscribers.size + this.#joining.size === 0) this.cancel();
    }, graceMs);
  }

  /**
   * The instance is restarting: keep this answer running until it ends (no
   * grace timeout), logged so its readers can resume it elsewhere.
   */
  holdForShutdown(): void {
    clearTimeout(this.#graceTimer);
    this.#startLogging();
  }

  async #run(request: StartRequest, origin: AnswerOrigin): Promise<void> {
    try {
      await this.#hub.core.run(request, {
        control: this.#control,
        identity: this.identity,
        emit: (event) => this.#emit(event),
        trace: this.trace,
        onOwned: () => {
          if (this.#refused) return;
          this.#isOwned = true;
          this.#owned?.resolve(true);
          this.#hub.owned(this);
        },
      });
      this.#traced(origin);
    } finally {
      // A turn stopped before its claim settled is never the session's latest answer.
      this.#refused = !this.#isOwned;
      this.#owned?.resolve(false);
      clearTimeout(this.#graceTimer);
      if (this.#logging) {
        clearTimeout(this.#flushTimer);
        await this.#flush();
        // The lease holds until the log is complete (a slow store may still
        // be writing it): only then are the lease and the cancel watch
        // stopped. Only a logged answer has them (an abort builds a
        // DOMException, with its stack: not for every answer).
        this.#logStop?.abort();
      }
      this.#hub.forget(this);
    }
  }

  /** Ends the answer's trace and writes its access line. */
  #traced(origin: AnswerOrigin): void {
    const last = this.events.at(-1);
    const code = last?.type === "error" ? last.code : undefined;
    const reason = last?.type === "finish" ? last.reason : "error";
    const summary = this.trace.end({ reason, code, chunks: Math.max(0, this.events.length - 2) });
    if (!this.#hub.logger.enabled("info")) return;
    this.#hub.logger.info("Answer", {
      request_id: this.requestId,
      session_id: this.sessionId,
      trace_id: this.trace.traceId,
      transport: origin.transport,
      dialect: origin.dialect,
      agent: this.#hub.core.agentName,
      reason,
      code,
      chunks: summary.chunks,
      duration_ms: Math.round(summary.durationMs),
      first_chunk_ms: summary.firstChunkMs === undefined
        ? undefined
        : Math.round(summary.firstChunkMs),
    });
  }

  #emit(event: CoreEvent): void | Promise<void> {
    const item: LoggedEvent = { seq: this.events.length, event };
    this.events.push(event);
    // Per chunk, the trace costs a comparison; tool calls open and close spans.
    if (event.type === "text-delta") {
      if (!this.trace.started) this.trace.firstChunk();
    } else this.trace.observe(event);
    if (this.#logging) {
      this.#flushTimer ??= setTimeout(() => void this.#flush(), this.#hub.options.flushMs);
    }
    let waits: Promise<void>[] | undefined;
    if (this.#joining.size > 0) {
      for (const backlog of this.#joining.values()) {
        backlog.push(item);
      }
    }
    for (const subscriber of this.#subscribers) {
      const pending = subscriber.deliver(item);
      if (pending) (waits ??= []).push(pending);
    }
    if (waits) return Promise.all(waits).then(() => {});
  }

  /**
   * From now on the answer is logged, from its first event, under a lease
   * this instance renews; a cancel from another instance stops it.
   */
  #startLogging(): void {
    if (this.#logging) return;
    this.#logging = true;
    const { streamLog, options, logger } = this.#hub;
    const info = { sessionId: this.sessionId, query: this.query, identity: this.identity };
    const owned = this.#owned = Promise.withResolvers<boolean>();
    if (this.#isOwned || this.#refused) owned.resolve(this.#isOwned);
    // The lease first: a reader never finds the answer without a live producer.
    this.#writes = this.#writes
      .then(() => owned.promise)
      .then(async (owned) => {
        if (!owned) return;
        await retried(() => streamLog.renew(this.requestId, options.leaseMs));
        await retried(() => streamLog.begin(this.requestId, info));
      });
    void this.#flush();
    if (this.ended) return;
    this.#logStop = new AbortController();
    const signal = this.#logStop.signal;
    const renew = setInterval(() => {
      streamLog.renew(this.requestId, options.leaseMs).catch((error) => {
        logger.error("Cannot renew answer lease", { request_id: this.requestId, error });
      });
    }, Math.max(50, Math.floor(options.leaseMs / 3)));
    signal.addEventListener("abort", () => clearInterval(renew), { once: true });
    // Watch once the answer is in the log (a wait on an unknown answer just times out).
    void this.#writes.then(() => this.#watchCancel(signal), () => {});
  }

  /** Stops the answer when another instance asks to, until `signal` aborts. */
  async #watchCancel(signal: AbortSignal): Promise<void> {
    const { streamLog, options } = this.#hub;
    while (!signal.aborted) {
      const wanted = await streamLog
        .waitForCancel(this.requestId, { timeoutMs: options.cancelPollMs, signal })
        // Store unreachable: pause instead of spinning.
        .catch(() => delay(options.cancelPollMs, signal).then(() => false));
      if (wanted && !signal.aborted) this.cancel();
    }
  }

  /**
   * Queues a write of every event not logged yet, after the writes before
   * it. One write is queued at a time: while the store is slow (or a
   * write is tried again), the events produced meanwhile join its batch.
   */
  #flush(): Promise<void> {
    this.#flushTimer = undefined;
    if (this.#queued || this.#logged === this.events.length) return this.#writes;
    this.#queued = true;
    this.#writes = this.#writes.then(
      () => this.#append(),
      // The log could not be started.
      (error) => (this.#take(), this.#loseLog(error)),
    );
    return this.#writes;
  }

  /** The events not logged yet, from now on counted as logged. */
  #take(): LoggedEvent[] {
    this.#queued = false;
    const batch = this.#items(this.#logged);
    this.#logged = this.events.length;
    return batch;
  }

  /** The events from `seq` `from` on, with their sequence numbers. */
  #items(from: number): LoggedEvent[] {
    const items: LoggedEvent[] = [];
    for (let seq = Math.max(0, from); seq < this.events.length; seq++) {
      items.push({ seq, event: this.events[seq] });
    }
    return items;
  }

  /** Writes the events not logged yet, trying again a few times before the log is lost. */
  async #append(): Promise<void> {
    const batch = this.#take();
    if (batch.length === 0 || this.#logLost || this.#refused) return;
    const ended = isFinal(batch.at(-1)!.event);
    await retried(() => this.#hub.streamLog.append(this.requestId, batch, ended))
      .catch((error) => this.#loseLog(error));
  }

  /**
   * A log write failed: its readers could only see a gap, or wait for
   * ever. Seal the log after the failed batch with a `stream_lost` error, so they
   * end with it, and log nothing more (local subscribers still get every
   * event from memory).
   */
  async #loseLog(error: unknown): Promise<void> {
    const requestId = this.requestId;
    this.#hub.logger.error("Cannot log stream events", { request_id: requestId, error });
    if (this.#logLost) return;
    this.#logLost = true;
    const final: LoggedEvent = {
      seq: this.#logged,
      event: {
        type: "error",
        code: ErrorCode.StreamLost,
        message:
          `Cannot resume "${requestId}" in full: its events could not be logged; please ask again`,
      },
    };
    await retried(() => this.#hub.streamLog.seal(requestId, final)).catch((error) => {
      this.#hub.logger.error("Cannot seal stream log", { request_id: requestId, error });
    });
  }
}
