/**
 * The stream hub: runs answers as {@link Producer}s that belong to no
 * socket and connects subscribers to them, locally or, for an answer
 * running on another instance, by reading the {@link StreamLog}.
 *
 * While a client is attached, events live only in memory (the hot path
 * costs an array push). From the moment an answer loses its last
 * subscriber its events go to the stream log, which is what a reconnect to
 * another instance needs; it costs nothing while clients stay connected.
 * @module
 */
import type { ChatCore } from "../core.ts";
import type { Logger } from "../log.ts";
import type { LogRead, StreamLog } from "../store/types.ts";
import {
  type HubOptions,
  Producer,
  type ProducerHost,
  type StartRequest,
  type Subscriber,
} from "./producer.ts";

export { type HubOptions, Producer, type StartRequest, type Subscriber } from "./producer.ts";

/** What a resume attempt found. */
export type ResumeResult = "resumed" | "unknown" | "forbidden";

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
  #producers = new Map<string, Producer>();
  #latest = new Map<string, Producer>();

  /** Creates a hub over the chat core and a stream log. */
  constructor(core: ChatCore, streamLog: StreamLog, logger: Logger, options: HubOptions) {
    this.core = core;
    this.streamLog = streamLog;
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
    return this.#latest.get(sessionId)?.requestId ?? await this.streamLog.latest(sessionId);
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
    await this.streamLog.requestCancel(requestId);
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
      const read = await this.streamLog.read(requestId, afterSeq).catch((error) => {
        this.logger.error("Cannot read stream log", { requestId, error });
        return undefined;
      });
      if (read || Date.now() >= deadline || signal?.aborted) return read;
      await new Promise((resolve) => setTimeout(resolve, this.options.logPollMs));
    }
  }

  /**
   * Delivers every event after `afterSeq`, then the live ones, to
   * `subscriber`: from the local producer, or by reading the log while the
   * answer runs elsewhere. Following a remote answer stops when `signal` aborts.
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
      await new Promise((resolve) => setTimeout(resolve, this.options.logPollMs));
      const next = await this.streamLog.read(requestId, seen);
      if (!next) return "resumed";
      read = next;
    }
  }
}
