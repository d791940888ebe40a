/**
 * A socket's outbox ({@link Outbox}): the frames an answer sends in one
 * burst wait, and leave back to back once the burst yields.
 *
 * Deno writes each WebSocket frame in a task that runs only when the app
 * yields to its event loop. Answers streaming at once interleave their
 * frames one by one across sockets, and the kernel (on loopback, the
 * reader's side too) pays for every switch: with 100 streams, twice the
 * system time per frame of writing each socket's frames together. Once per
 * event-loop turn every outbox is written, socket after socket.
 *
 * Bun gathers the sends made inside a socket's message handler (and the
 * microtasks it runs) into one write at its end, but writes each send made
 * after the app yielded on its own, a system call per frame: its outbox
 * hands a round's frames over inside the socket's `cork`, one write.
 * @module
 */
import { turnTask } from "../../io_turn.ts";

/** Characters an outbox holds before it is written at once (backpressure then sees them). */
const MAX_CHARS = 64 * 1024;

/** Outboxes with frames waiting for this turn's round. */
const waiting = new Set<Outbox>();

/** Writes every waiting outbox in the next turn; frames sent after it start a new round. */
const writeRound = turnTask(() => {
  for (const outbox of waiting) outbox.flush();
  waiting.clear();
});

/** Options of {@link Outbox}. */
export interface OutboxOptions {
  /**
   * Runs the writes of one flush as one batch (Bun's
   * `ServerWebSocket.cork`); without it they run as they are.
   */
  cork?: (writes: () => void) => void;
}

/** The frames of one socket waiting for the end of the burst that sent them. */
export class Outbox {
  #write: (frame: string) => void;
  #cork: ((writes: () => void) => void) | undefined;
  #frames: string[] = [];
  #chars = 0;

  /** An outbox that hands its frames to `write`, in order. */
  constructor(write: (frame: string) => void, options: OutboxOptions = {}) {
    this.#write = write;
    this.#cork = options.cork;
  }

  /** Queues one frame for this turn's round. */
  send(frame: string): void {
    if (this.#frames.length === 0) {
      if (waiting.size === 0) writeRound();
      waiting.add(this);
    }
    this.#frames.push(frame);
    this.#chars += frame.length;
    if (this.#chars >= MAX_CHARS) this.flush();
  }

  /** Writes the waiting frames now, in order. */
  flush(): void {
    if (this.#frames.length === 0) return;
    const frames = this.#frames;
    this.#frames = [];
    this.#chars = 0;
    if (this.#cork) this.#cork(() => this.#writeAll(frames));
    else this.#writeAll(frames);
  }

  #writeAll(frames: string[]): void {
    for (const frame of frames) this.#write(frame);
  }
}
