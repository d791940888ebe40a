/**
 * Producer/delivery split: an answer runs in a {@link Producer} that does
 * not belong to any socket. Sockets subscribe to it; when the last one
 * drops, the answer keeps going for a grace period so a reconnecting client
 * can resume, here or on another instance.
 *
 * While a client is attached, events live only in memory (the hot path
 * costs an array push). From the moment an answer loses its last
 * subscriber, its events so far and every later one go to the
 * {@link StreamLog} in batches, and the producer polls the log for a cancel
 * from another instance: that is what a reconnect to another instance
 * needs, and it costs nothing while clients stay connected.
 * @module
 */
import { type ChatCore, type CoreEvent, isFinal, type TurnRequest } from "../core.ts";
import { ErrorCode } from "../../protocol/codes.ts";
import type { Logger } from "../log.ts";
import type { LoggedEvent, LogRead, StreamLog } from "./log.ts";

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
  /** How often a remote reader polls the log for new events. */
  tailPollMs: number;
  /**
   * How long a resume waits for an answer to appear in the log (another
   * instance may still be writing its first batch) before calling it unknown.
   */
  unknownWaitMs: number;
}

/** A request the hub can start. */
export type StartRequest =
  & Required<Pick<TurnRequest, "query" | "sessionId" | "requestId">>
  & TurnRequest;

/** What a resume attempt found. */
export type ResumeResult = "resumed" | "unknown" | "forbidden";

/** The error a client gets when its resume of `requestId` is refused. */
export function resumeRefusal(
  result: Exclude<ResumeResult, "resumed">,
  requestId: string,
): { code: ErrorCode; message: string } {
  return result === "forbidden"
    ? {
      code: ErrorCode.Forbidden,
      message: `Cannot resume "${requestId}": it belongs to another identity`,
    }
    : {
      code: ErrorCode.NotFound,
      message:
        `Cannot resume: no answer with request_id "${requestId}" (it finished and expired, or never started)`,
    };
}

/** One running answer. */
export class Producer {
  /** The answer's request id. */
  readonly requestId: string;
  /** The session the answer belongs to. */
  readonly sessionId: string;
  /** Who started it (when authentication is on). */
  readonly identity: string | undefined;
  /** Every event so far, in order; `events[i].seq === i`. */
  readonly events: LoggedEvent[] = [];
  /** Settles when the answer ended and its log (if any) is flushed. */
  readonly done: Promise<void>;
  #hub: StreamHub;
  #subscribers = new Set<Subscriber>();
  /** Subscribers still being sent their backlog. */
  #joining = new Set<Subscriber>();
  #abort = new AbortController();
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #logging = false;
  #logged = 0;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #writes: Promise<void> = Promise.resolve();
  #cancelPoll: ReturnType<typeof setInterval> | undefined;

  /** Starts the answer at once. */
  constructor(hub: StreamHub, request: StartRequest, identity: string | undefined) {
    this.#hub = hub;
    this.requestId = request.requestId;
    this.sessionId = request.sessionId;
    this.identity = identity;
    this.done = this.#run(request);
  }

  /** True once the final event was produced. */
  get ended(): boolean {
    const last = this.events.at(-1);
    return last !== undefined && isFinal(last.event);
  }

  /** Stops the answer; `reason` may be a `TurnStop` (see the core). */
  cancel(reason?: unknown): void {
    this.#abort.abort(reason);
  }

  /** Sends every event after `afterSeq`, then the live tail, to `subscriber`. */
  async subscribe(subscriber: Subscriber, afterSeq: number): Promise<void> {
    clearTimeout(this.#graceTimer);
    // Events produced while the backlog is replayed are appended to it; the
    // switch to live delivery happens with no await in between, so nothing
    // is missed or sent twice.
    const backlog = this.events.slice(afterSeq + 1);
    const buffer: Subscriber = { deliver: (item) => void backlog.push(item) };
    this.#subscribers.add(buffer);
    this.#joining.add(subscriber);
    try {
      for (let i = 0; i < backlog.length && this.#joining.has(subscriber); i++) {
        await subscriber.deliver(backlog[i]);
      }
    } finally {
      this.#subscribers.delete(buffer);
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
    if (this.#subscribers.size > 0 || this.ended) return;
    const graceMs = this.#hub.options.graceMs;
    if (!keepAlive || graceMs === 0) {
      this.cancel();
      return;
    }
    clearTimeout(this.#graceTimer);
    this.#graceTimer = setTimeout(() => {
      if (this.#subscribers.size === 0) this.cancel();
    }, graceMs);
  }

  async #run(request: StartRequest): Promise<void> {
    try {
      await this.#hub.core.run(request, {
        signal: this.#abort.signal,
        identity: this.identity,
        emit: (event) => this.#emit(event),
      });
    } finally {
      clearTimeout(this.#graceTimer);
      clearInterval(this.#cancelPoll);
      if (this.#logging) {
        clearTimeout(this.#flushTimer);
        await this.#flush();
      }
      this.#hub.forget(this);
    }
  }

  #emit(event: CoreEvent): void | Promise<void> {
    const item: LoggedEvent = { seq: this.events.length, event };
    this.events.push(item);
    if (this.#logging) {
      this.#flushTimer ??= setTimeout(() => void this.#flush(), this.#hub.options.flushMs);
    }
    let waits: Promise<void>[] | undefined;
    for (const subscriber of this.#subscribers) {
      const pending = subscriber.deliver(item);
      if (pending) (waits ??= []).push(pending);
    }
    if (waits) return Promise.all(waits).then(() => {});
  }

  /** From now on the answer is logged, from its first event. */
  #startLogging(): void {
    if (this.#logging) return;
    this.#logging = true;
    const { log } = this.#hub;
    this.#writes = this.#writes.then(() =>
      log.begin(this.requestId, this.sessionId, this.identity)
    );
    void this.#flush();
    if (this.ended) return;
    this.#cancelPoll = setInterval(async () => {
      if (await log.isCancelRequested(this.requestId).catch(() => false)) this.cancel();
    }, this.#hub.options.cancelPollMs);
  }

  #flush(): Promise<void> {
    this.#flushTimer = undefined;
    const batch = this.events.slice(this.#logged);
    if (batch.length === 0) return this.#writes;
    this.#logged = this.events.length;
    const ended = isFinal(batch.at(-1)!.event);
    this.#writes = this.#writes
      .then(() => this.#hub.log.append(this.requestId, batch, ended))
      .catch((error) => {
        this.#hub.logger.error("Cannot log stream events", { requestId: this.requestId, error });
      });
    return this.#writes;
  }
}

/** Runs answers as producers and connects subscribers to them. */
export class StreamHub {
  /** The chat core that runs turns. */
  readonly core: ChatCore;
  /** Where orphaned answers are logged. */
  readonly log: StreamLog;
  /** Where failures are logged. */
  readonly logger: Logger;
  /** Timing settings. */
  readonly options: HubOptions;
  #producers = new Map<string, Producer>();
  #latest = new Map<string, Producer>();

  /** Creates a hub over the chat core and a stream log. */
  constructor(core: ChatCore, log: StreamLog, logger: Logger, options: HubOptions) {
    this.core = core;
    this.log = log;
    this.logger = logger;
    this.options = options;
  }

  /** Starts an answer with `subscriber` attached from its first event. */
  start(request: StartRequest, subscriber: Subscriber, identity?: string): Producer {
    const producer = new Producer(this, request, identity);
    this.#producers.set(request.requestId, producer);
    this.#latest.set(request.sessionId, producer);
    void producer.subscribe(subscriber, -1);
    return producer;
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

  /** Stops every answer running here with `reason` and waits until they ended. */
  async stopAll(reason?: unknown): Promise<void> {
    const running = [...this.#producers.values()];
    for (const producer of running) producer.cancel(reason);
    await Promise.allSettled(running.map((producer) => producer.done));
  }

  /** The request id of the latest answer of a session still running or logged. */
  async latest(sessionId: string): Promise<string | undefined> {
    return this.#latest.get(sessionId)?.requestId ?? await this.log.latest(sessionId);
  }

  /**
   * Cancels an answer wherever it runs: here directly, elsewhere through
   * the log. Returns false when the answer is unknown, ended, or not
   * `identity`'s.
   */
  async cancel(requestId: string, identity?: string): Promise<boolean> {
    const found = await this.#find(requestId, Number.MAX_SAFE_INTEGER);
    if (found instanceof Producer) {
      if (found.identity !== identity) return false;
      found.cancel();
      return true;
    }
    const read = found;
    if (!read || read.ended || read.identity !== identity) return false;
    await this.log.requestCancel(requestId);
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
  ): Promise<Producer | LogRead | undefined> {
    const deadline = Date.now() + this.options.unknownWaitMs;
    while (true) {
      const local = this.#producers.get(requestId);
      if (local) return local;
      const read = await this.log.read(requestId, afterSeq).catch((error) => {
        this.logger.error("Cannot read stream log", { requestId, error });
        return undefined;
      });
      if (read || Date.now() >= deadline || signal?.aborted) return read;
      await new Promise((resolve) => setTimeout(resolve, this.options.tailPollMs));
    }
  }

  /**
   * Delivers every event after `afterSeq`, then the live tail, to
   * `subscriber`: from the local producer, or by reading the log while the
   * answer runs elsewhere. Remote tailing stops when `signal` aborts.
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
      options.onAttach?.(local);
      await local.subscribe(subscriber, afterSeq);
      return "resumed";
    }
    const found = await this.#find(requestId, afterSeq, options.signal);
    if (found instanceof Producer) return this.resume(requestId, afterSeq, subscriber, options);
    let read = found;
    if (!read) return "unknown";
    if (read.identity !== options.identity) return "forbidden";
    let seen = afterSeq;
    while (true) {
      for (const item of read.events) {
        await subscriber.deliver(item);
        seen = item.seq;
      }
      if (read.ended || options.signal.aborted) return "resumed";
      await new Promise((resolve) => setTimeout(resolve, this.options.tailPollMs));
      const next = await this.log.read(requestId, seen);
      if (!next) return "resumed";
      read = next;
    }
  }
}
