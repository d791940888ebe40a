/**
 * A server-sent events body: formats `retry:`/`id:`/`data:` messages and
 * keeps a quiet stream alive with comment heartbeats.
 * @module
 */

/** One event-stream message. */
export interface SseMessage {
  /** The `id:` field (what `Last-Event-ID` sends back on reconnect). */
  id?: string;
  /** The `data:` payload; one `data:` line per line of it. */
  data: string;
  /** The `retry:` field: reconnect delay in milliseconds. */
  retry?: number;
}

/** Formats one message in the `text/event-stream` format. */
export function formatMessage(message: SseMessage): string {
  let text = message.retry === undefined ? "" : `retry: ${message.retry}\n`;
  if (message.id !== undefined) text += `id: ${message.id}\n`;
  const data = message.data.includes("\n")
    ? message.data.split("\n").join("\ndata: ")
    : message.data;
  return `${text}data: ${data}\n\n`;
}

/** The response headers of an event stream. */
export const EVENT_STREAM_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

const text = new TextEncoder();
const HEARTBEAT = text.encode(": ping\n\n");

/** Options of {@link EventStream}. */
export interface EventStreamOptions {
  /** A comment is sent when nothing else was for this long. */
  heartbeatMs: number;
  /** Messages queued before the stream counts as {@link EventStream.full}. */
  highWaterMark: number;
  /** The reader asked for more (the queue has room again). */
  onPull?(): void;
  /** The reader went away. */
  onCancel?(): void;
}

/** A `text/event-stream` body with heartbeats; {@link body} goes in the response. */
export class EventStream {
  /** The bytes of the stream. */
  readonly body: ReadableStream<Uint8Array<ArrayBuffer>>;
  #controller!: ReadableStreamDefaultController<Uint8Array<ArrayBuffer>>;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #quiet = true;
  #closed = false;

  /** Opens the stream; heartbeats start at once. */
  constructor(options: EventStreamOptions) {
    this.body = new ReadableStream<Uint8Array<ArrayBuffer>>({
      start: (controller) => {
        this.#controller = controller;
        this.#heartbeat = setInterval(() => {
          if (this.#quiet && !this.full) controller.enqueue(HEARTBEAT);
          this.#quiet = true;
        }, options.heartbeatMs);
      },
      pull: () => options.onPull?.(),
      cancel: () => {
        this.#stop();
        options.onCancel?.();
      },
    }, { highWaterMark: options.highWaterMark });
  }

  /** True while the reader is behind: the queue is at its high-water mark. */
  get full(): boolean {
    return (this.#controller.desiredSize ?? 1) <= 0;
  }

  /** Queues one message (dropped once the stream ended). */
  send(message: SseMessage): void {
    if (this.#closed) return;
    this.#controller.enqueue(text.encode(formatMessage(message)));
    this.#quiet = false;
  }

  /** Ends the stream normally. */
  close(): void {
    if (!this.#stop()) return;
    try {
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

  #stop(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    return true;
  }
}
