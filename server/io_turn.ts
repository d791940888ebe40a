/**
 * Waiting for the runtime's next I/O turn, so the bytes the app queued on
 * its sockets are written now rather than when the app next goes idle.
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

/** Resolvers of the callers waiting for the next turn, first first. */
const waiting: (() => void)[] = [];

/**
 * One channel for the process, made on first use: a port made per wait is
 * handed its message in the same turn, without yielding. It holds the
 * process open only while someone waits (`ref`/`unref`, as Node's and
 * Bun's ports have).
 */
let channel: { receiver: RefPort; sender: MessagePort } | undefined;

/** A `MessagePort` with the `ref`/`unref` of Deno's, Node's and Bun's. */
type RefPort = MessagePort & { ref?(): void; unref?(): void };

function turned(): void {
  waiting.shift()?.();
  if (waiting.length === 0) channel?.receiver.unref?.();
}

/** Resolves in the event loop's next turn, once the writes queued before it ran. */
export function nextIoTurn(): Promise<void> {
  return new Promise((resolve) => {
    if (!channel) {
      const { port1, port2 } = new MessageChannel();
      port1.onmessage = turned;
      channel = { receiver: port1, sender: port2 };
    }
    if (waiting.length === 0) channel.receiver.ref?.();
    waiting.push(resolve);
    channel.sender.postMessage(null);
  });
}
