/**
 * Producer/delivery split: an answer runs in a {@link Producer} that does
 * not belong to any socket. Sockets subscribe to it; when the last one
 * drops, the answer keeps going for a grace period so a reconnecting client
 * can resume. Every event goes to the {@link StreamLog} in batches, which is
 * what lets another instance resume or cancel it.
 * @module
 */
import type { ChatCore, CoreEvent, TurnRequest } from "../core.ts";
import type { Logger } from "../log.ts";
import type { LoggedEvent, StreamLog } from "./log.ts";

/** Receives the events of one answer, in order, each exactly once. */
export interface Subscriber {
  /** Called for each event; a returned promise slows the producer (backpressure). */
  deliver(item: LoggedEvent): void | Promise<void>;
}

/** Settings of the hub. */
export interface HubOptions {
  /** How long an answer with no subscriber keeps running. */
  graceMs: number;
  /** Longest delay before produced events reach the log. */
  flushMs: number;
  /** How often a running answer checks the log for a cancel from elsewhere. */
  cancelPollMs: number;
  /** How often a remote reader polls the log for new events. */
  tailPollMs: number;
}

const isFinal = (event: CoreEvent) => event.type === "finish" || event.type === "error";

/** One running answer. */
export class Producer {
  readonly requestId: string;
  readonly sessionId: string;
  readonly events: LoggedEvent[] = [];
  readonly done: Promise<void>;
  #subscribers = new Set<Subscriber>();
  #pending: LoggedEvent[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #abort = new AbortController();
  #hub: StreamHub;

  constructor(hub: StreamHub, request: Required<TurnRequest>) {
    this.#hub = hub;
    this.requestId = request.requestId;
    this.sessionId = request.sessionId;
    this.done = this.#run(request);
  }

  /** True once the final event was produced. */
  get ended(): boolean {
    const last = this.events.at(-1);
    return last !== undefined && isFinal(last.event);
  }

  /** Stops the answer (it ends with `done` cancelled). */
  cancel(): void {
    this.#abort.abort();
  }

  /** Sends every event after `afterSeq`, then the live tail, to `subscriber`. */
  async subscribe(subscriber: Subscriber, afterSeq: number): Promise<void> {
    clearTimeout(this.#graceTimer);
    // While the backlog is replayed, new events are buffered; the swap to
    // live delivery happens with no await in between, so nothing is missed
    // or sent twice.
    const backlog = this.events.slice(afterSeq + 1);
    const buffer: Subscriber = { deliver: (item) => void backlog.push(item) };
    this.#subscribers.add(buffer);
    try {
      for (let i = 0; i < backlog.length; i++) await subscriber.deliver(backlog[i]);
    } finally {
      this.#subscribers.delete(buffer);
    }
    if (!this.ended) this.#subscribers.add(subscriber);
  }

  /** Stops sending to `subscriber`; with none left, the grace period starts. */
  unsubscribe(subscriber: Subscriber): void {
    this.#subscribers.delete(subscriber);
    if (this.#subscribers.size === 0 && !this.ended) {
      clearTimeout(this.#graceTimer);
      this.#graceTimer = setTimeout(() => this.cancel(), this.#hub.options.graceMs);
    }
  }

  async #run(request: Required<TurnRequest>): Promise<void> {
    const poll = setInterval(async () => {
      if (await this.#hub.log.isCancelRequested(this.requestId).catch(() => false)) this.cancel();
    }, this.#hub.options.cancelPollMs);
    try {
      await this.#hub.log.begin(this.requestId, this.sessionId);
      await this.#hub.core.run(request, {
        signal: this.#abort.signal,
        emit: (event) => this.#emit(event),
      });
    } finally {
      clearInterval(poll);
      clearTimeout(this.#graceTimer);
      clearTimeout(this.#flushTimer);
      await this.#flush();
      this.#hub.forget(this);
    }
  }

  #emit(event: CoreEvent): void | Promise<void> {
    const item: LoggedEvent = { seq: this.events.length, event };
    this.events.push(item);
    this.#pending.push(item);
    if (isFinal(event)) clearTimeout(this.#graceTimer);
    else this.#flushTimer ??= setTimeout(() => void this.#flush(), this.#hub.options.flushMs);
    let waits: Promise<void>[] | undefined;
    for (const subscriber of this.#subscribers) {
      const pending = subscriber.deliver(item);
      if (pending) (waits ??= []).push(pending);
    }
    if (waits) return Promise.all(waits).then(() => {});
  }

  #flush(): Promise<void> {
    this.#flushTimer = undefined;
    if (this.#pending.length === 0) return this.#flushing;
    const batch = this.#pending;
    this.#pending = [];
    const ended = isFinal(batch.at(-1)!.event);
    this.#flushing = this.#flushing
      .then(() => this.#hub.log.append(this.requestId, batch, ended))
      .catch((error) => {
        this.#hub.logger.error("Cannot log stream events", { requestId: this.requestId, error });
      });
    return this.#flushing;
  }
}

/** Runs answers as producers and connects subscribers to them. */
export class StreamHub {
  readonly core: ChatCore;
  readonly log: StreamLog;
  readonly logger: Logger;
  readonly options: HubOptions;
  #producers = new Map<string, Producer>();

  /** Creates a hub over the chat core and a stream log. */
  constructor(core: ChatCore, log: StreamLog, logger: Logger, options: HubOptions) {
    this.core = core;
    this.log = log;
    this.logger = logger;
    this.options = options;
  }

  /** Starts an answer with `subscriber` attached from its first event. */
  start(request: Required<TurnRequest>, subscriber: Subscriber): Producer {
    const producer = new Producer(this, request);
    this.#producers.set(request.requestId, producer);
    void producer.subscribe(subscriber, -1);
    return producer;
  }

  /** The answer running on this instance, if any. */
  local(requestId: string): Producer | undefined {
    return this.#producers.get(requestId);
  }

  /** Called by a producer when it has finished and flushed. */
  forget(producer: Producer): void {
    if (this.#producers.get(producer.requestId) === producer) {
      this.#producers.delete(producer.requestId);
    }
  }

  /**
   * Cancels an answer wherever it runs: here directly, elsewhere through
   * the log. Returns false when the answer is unknown or already ended.
   */
  async cancel(requestId: string): Promise<boolean> {
    const local = this.#producers.get(requestId);
    if (local) {
      local.cancel();
      return true;
    }
    const read = await this.log.read(requestId, Number.MAX_SAFE_INTEGER);
    if (!read || read.ended) return false;
    await this.log.requestCancel(requestId);
    return true;
  }

  /**
   * Delivers every event after `afterSeq`, then the live tail, to
   * `subscriber` until the answer ends or `signal` aborts. Returns false
   * when the answer is unknown (never started, or expired from the log).
   */
  async resume(
    requestId: string,
    afterSeq: number,
    subscriber: Subscriber,
    signal: AbortSignal,
  ): Promise<boolean> {
    const local = this.#producers.get(requestId);
    if (local) {
      await local.subscribe(subscriber, afterSeq);
      signal.addEventListener("abort", () => local.unsubscribe(subscriber), { once: true });
      return true;
    }
    let seen = afterSeq;
    let read = await this.log.read(requestId, seen);
    if (!read) return false;
    while (true) {
      for (const item of read.events) {
        await subscriber.deliver(item);
        seen = item.seq;
      }
      if (read.ended || signal.aborted) return true;
      await new Promise((resolve) => setTimeout(resolve, this.options.tailPollMs));
      read = await this.log.read(requestId, seen);
      if (!read) return true;
    }
  }
}
