/**
 * A server-sent events body: formats `retry:`/`id:`/`data:` messages and
 * keeps a quiet stream alive with comment heartbeats.
 * @module
 */
import { turnTask } from "../../io_turn.ts";
import { Ticks } from "../../shared_timers.ts";

/** One event-stream message. */
export interface SseMessage {
  /** The `id:` field (what `Last-Event-ID` sends back on reconnect). */
  id?: string;
  /** The `data:` payload; one `data:` line per line of it. */
  data: string;
  /** The `retry:` field: reconnect delay in milliseconds. */
  retry?: number;
}

/** Any line break of the event-stream format: CRLF, LF or a lone CR. */
const LINE_BREAK = /\r\n|\r|\n/;

/** Formats one message in the `text/event-stream` format. */
export function formatMessage(message: SseMessage): string {
  let text = message.retry === undefined ? "" : `retry: ${message.retry}\n`;
  if (message.id !== undefined) text += `id: ${message.id}\n`;
  const data = LINE_BREAK.test(message.data)
    ? message.data.split(LINE_BREAK).join("\ndata: ")
    : message.data;
  return `${text}data: ${data}\n\n`;
}

/**
 * Formats a message whose data is one line: a JSON text (JSON escapes
 * every line break) or a fixed token. The per-chunk case: no scan of the
 * data (which would first copy it into one flat string) and no message
 * object.
 */
export function formatLine(data: string, id: string | undefined): string {
  return id === undefined ? `data: ${data}\n\n` : `id: ${id}\ndata: ${data}\n\n`;
}

/** The response headers of an event stream. */
export const EVENT_STREAM_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

const text = new TextEncoder();

/** Event streams of eager readers that were handed a chunk in this turn. */
class EagerRound {
  #streams = new Set<EventStream>();
  #post = turnTask(() => {
    const streams = this.#streams;
    this.#streams = new Set();
    for (const stream of streams) stream.endTurn();
  });

  /** Calls `stream.endTurn()` at the end of this turn. */
  add(stream: EventStream): void {
    if (this.#streams.size === 0) this.#post();
    this.#streams.add(stream);
  }
}

const eagerRound = new EagerRound();

/** Options of {@link EventStream}. */
export interface EventStreamOptions {
  /** A comment is sent when nothing else was for this long. */
  heartbeatMs: number;
  /** Messages waiting for the reader before the stream counts as {@link EventStream.full}. */
  highWaterMark: number;
  /** The reader asked for more (the queue has room again). */
  onPull?(): void;
  /** The reader went away. */
  onCancel?(): void;
}

/**
 * A `text/event-stream` body with heartbeats; {@link body} goes in the response.
 *
 * Writes are driven by the reader (the HTTP server): a message sent while
 * the reader waits goes out at once (the first chunk is never held back);
 * messages sent while it is still busy writing the previous bytes wait in
 * one string and leave together, as one encoded chunk, on its next read.
 * A burst thus costs one encode and one socket write per read instead of
 * one per message, with nothing ever delayed by a timer.
 *
 * A reader that asks again as soon as it was handed a chunk, before the
 * app's next step (Bun's response sink takes bytes as they come), is
 * always waiting, so the rule above would write message by message. For such an eager reader, the
 * first message of an event-loop turn still goes out at once; the next
 * ones wait for the end of the turn (or for `highWaterMark` of them) and
 * leave together.
 */
export class EventStream {
  /** The bytes of the stream. */
  readonly body: ReadableStream<Uint8Array<ArrayBuffer>>;
  #controller!: ReadableStreamDefaultController<Uint8Array<ArrayBuffer>>;
  #heartbeats: Ticks;
  /**
   * Nothing was sent since the last heartbeat tick. False until the first:
   * the ticks are shared, so a new stream's first one may come at once.
   */
  #quiet = false;
  #closed = false;
  /** Formatted messages the reader has not taken yet. */
  #pending = "";
  #pendingCount = 0;
  /** True while the reader waits for bytes (a read is outstanding). */
  #wanted = false;
  #highWaterMark: number;
  /** True from handing the reader a chunk until the microtasks queued meanwhile ran. */
  #handing = false;
  /** The reader asked again while it was being handed a chunk: it takes bytes as they come. */
  #eager = false;
  /** An eager reader was handed a chunk in this event-loop turn. */
  #handedThisTurn = false;

  /** Opens the stream; heartbeats start at once. */
  constructor(options: EventStreamOptions) {
    this.#highWaterMark = options.highWaterMark;
    // One timer ticks the heartbeats of every stream.
    this.#heartbeats = Ticks.every(options.heartbeatMs);
    this.body = new ReadableStream<Uint8Array<ArrayBuffer>>({
      start: (controller) => {
        this.#controller = controller;
        this.#heartbeats.add(this);
      },
      // With a high-water mark of 0, pull runs only when a read is outstanding.
      pull: () => {
        if (this.#handing) this.#eager = true;
        this.#wanted = true;
        if (this.#pendingCount > 0 && !this.#holding) this.#flush();
        options.onPull?.();
      },
      cancel: () => {
        this.#stop();
        options.onCancel?.();
      },
    }, { highWaterMark: 0 });
  }

  /**
   * A heartbeat tick: a comment goes out when nothing else did for a whole
   * period (between one and two periods of quiet).
   */
  tick(): void {
    if (this.#quiet && !this.full) this.#write(": ping\n\n");
    this.#quiet = true;
  }

  /** True while messages wait for the reader to take them. */
  get waiting(): boolean {
    return this.#pendingCount > 0;
  }

  /** True while the reader is behind: `highWaterMark` messages wait for it. */
  get full(): boolean {
    return this.#pendingCount >= this.#highWaterMark;
  }

  /** Queues one message (dropped once the stream ended). */
  send(message: SseMessage): void {
    if (this.#closed) return;
    this.#write(formatMessage(message));
    this.#quiet = false;
  }

  /** Queues one message whose data is one line ({@link formatLine}); dropped once the stream ended. */
  sendLine(data: string, id?: string): void {
    if (this.#closed) return;
    this.#write(formatLine(data, id));
    this.#quiet = false;
  }

  /** Ends the stream normally, after the messages still waiting. */
  close(): void {
    if (!this.#stop()) return;
    try {
      if (this.#pendingCount > 0) this.#flush();
      this.#controller.close();
    } catch {
      // Already cancelled by the reader.
    }
  }

  /** Ends the stream with an error: the reader sees a broken stream. */
  error(reason: Error): void {
    if (!this.#stop()) return;
    try {
      this.#controller.error(reason);
    } catch {
      // Already closed.
    }
  }

  /**
   * Adds formatted text; hands it over at once when the reader waits (an
   * eager reader: see the class comment).
   */
  #write(formatted: string): void {
    this.#pending += formatted;
    this.#pendingCount++;
    if (this.#wanted && !this.#holding) this.#flush();
  }

  /**
   * True while an eager reader's messages wait for the end of the turn: it
   * was handed a chunk in this turn (so the round will flush), and fewer
   * than `highWaterMark` messages wait.
   */
  get #holding(): boolean {
    return this.#eager && this.#handedThisTurn && !this.full;
  }

  /** Hands every waiting message to the reader as one chunk. */
  #flush(): void {
    const chunk = text.encode(this.#pending);
    this.#pending = "";
    this.#pendingCount = 0;
    this.#wanted = false;
    if (this.#eager) eagerRound.add(this);
    this.#handedThisTurn = this.#eager;
    this.#handing = true;
    this.#controller.enqueue(chunk);
    queueMicrotask(this.#handed);
  }

  /** Ends the window in which a read counts as eager (the reader's own microtasks run first). */
  #handed = () => {
    this.#handing = false;
  };

  /** End of an event-loop turn (eager readers): what waited leaves, the next turn starts afresh. */
  endTurn(): void {
    this.#handedThisTurn = false;
    if (this.#pendingCount > 0 && this.#wanted && !this.#closed) this.#flush();
  }

  #stop(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    this.#heartbeats.delete(this);
    return true;
  }
}
