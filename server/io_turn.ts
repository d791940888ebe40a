/**
 * The event loop's next turn: waiting for it ({@link nextIoTurn}), so the
 * bytes the app queued on its sockets are written now rather than when the
 * app next goes idle, and running a task in it ({@link turnTask}).
 *
 * Deno writes a WebSocket frame (and an HTTP body chunk) in a task that
 * runs only once JavaScript yields to its event loop; microtasks (an
 * `await` on a settled promise, an async generator step) and Deno's
 * `setImmediate` do not yield, and `setTimeout(0)` waits at least 1 ms. A
 * burst of chunks produced by the agent back to back therefore left as one
 * batch at its end: the first chunk waited for the last. A message posted
 * on a `MessageChannel` is received in a later turn of the event loop,
 * after the tasks that were ready before it (the socket writes): a few
 * microseconds.
 * @module
 */

/** A `MessagePort` with the `ref`/`unref` of Deno's, Node's and Bun's. */
type RefPort = MessagePort & { ref?(): void; unref?(): void };

/**
 * A channel whose messages each run `onTurn` in a later turn of the event
 * loop. Made once and kept (a port made per wait is handed its message in
 * the same turn, without yielding); it holds the process open only while
 * a message is on its way.
 */
class TurnChannel {
  #receiver: RefPort;
  #sender: MessagePort;
  #posted = 0;
  #idleCheck: ReturnType<typeof setTimeout> | undefined;

  constructor(onTurn: () => void) {
    const { port1, port2 } = new MessageChannel();
    this.#receiver = port1;
    this.#sender = port2;
    port1.onmessage = () => {
      if (--this.#posted === 0) this.#unrefWhenIdle();
      onTurn();
    };
  }

  /** Runs `onTurn` once more, in a later turn. */
  post(): void {
    if (this.#posted++ === 0) this.#receiver.ref?.();
    this.#sender.postMessage(null);
  }

  /**
   * Lets the process exit while nothing is on its way. Not from the
   * message handler: Deno refs a port again after each message it hands
   * out, undoing an `unref` made while handling it (or in its
   * microtasks). A timer's is kept; one at a time, so a busy channel
   * costs a timer per millisecond at most, not one per message.
   */
  #unrefWhenIdle(): void {
    this.#idleCheck ??= setTimeout(() => {
      this.#idleCheck = undefined;
      if (this.#posted === 0) this.#receiver.unref?.();
    }, 0);
  }
}

/** Resolvers of the callers waiting for the next turn, first first. */
const waiting: (() => void)[] = [];
let waits: TurnChannel | undefined;

/** Resolves in the event loop's next turn, once the writes queued before it ran. */
export function nextIoTurn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    waits ??= new TurnChannel(() => waiting.shift()?.());
    waits.post();
  });
}

/**
 * A function that runs `task` in the event loop's next turn each time it
 * is called (call it once per turn: each call runs `task` once). On a
 * channel of its own, so its turns do not queue behind {@link nextIoTurn}'s.
 */
export function turnTask(task: () => void): () => void {
  let channel: TurnChannel | undefined;
  return () => {
    channel ??= new TurnChannel(task);
    channel.post();
  };
}
