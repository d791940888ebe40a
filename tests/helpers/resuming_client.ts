/**
 * A small resuming WebSocket client for fleet tests: asks one question
 * through a load balancer and, whenever the socket closes before the answer
 * ended (1012 from a restarting instance, a drop), reconnects and sends
 * `resume` with the last `seq` it received, tolerating refused reconnects
 * (503 while an instance drains). It records every frame it received, so a
 * test can check that each arrived exactly once and in order.
 * @module
 */

/** One frame as received. */
export type Frame = Record<string, unknown>;

/** What one question went through. */
export interface AskResult {
  /** Every frame of this request received, in arrival order (duplicates kept). */
  frames: Frame[];
  /** Connections opened after the first. */
  reconnects: number;
  /** Connection attempts that failed (refused upgrade, no instance). */
  refused: number;
  /** Close codes of the sockets that closed before the answer ended. */
  closeCodes: number[];
  /** Set when the answer did not end within the deadline. */
  timedOut?: boolean;
}

/** Options of {@link ask}. */
export interface AskOptions {
  sessionId: string;
  requestId: string;
  query?: string;
  /** Give up after this long (a safety bound, not a timing assertion). Default 90 s. */
  deadlineMs?: number;
}

/** True for the frame that ends an answer: `done`, or an `error` that carries a `seq`. */
export function isEnd(frame: Frame): boolean {
  return frame.type === "done" || (frame.type === "error" && typeof frame.seq === "number");
}

/** Opens a socket; rejects when the upgrade fails (e.g. 503) or the socket closes first. */
function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    socket.onclose = (event) => reject(new Error(`Closed ${event.code} before open`));
  });
}

/**
 * Reads frames of `requestId` from `socket` into `result.frames` until the
 * answer ends (true) or the socket closes first (false). A `not_found`
 * reply to a resume from the very start means the question never reached
 * an instance: `onUnknown` asks it again.
 */
function follow(
  socket: WebSocket,
  requestId: string,
  result: AskResult,
  onUnknown: () => void,
): Promise<boolean> {
  return new Promise((resolve) => {
    socket.onmessage = (event) => {
      const frame = JSON.parse(String(event.data)) as Frame;
      if (frame.request_id !== requestId) return;
      if (frame.type === "error" && frame.code === "not_found" && result.frames.length === 0) {
        return onUnknown();
      }
      result.frames.push(frame);
      // An error without a seq (unavailable, forbidden...) ends this request too.
      if (isEnd(frame) || frame.type === "error") {
        socket.onclose = null;
        socket.close(1000);
        resolve(true);
      }
    };
    socket.onclose = (event) => {
      result.closeCodes.push(event.code);
      resolve(false);
    };
  });
}

/** Asks one question through `url` and follows the answer across reconnects to its end. */
export async function ask(url: string, options: AskOptions): Promise<AskResult> {
  const { sessionId, requestId } = options;
  const result: AskResult = { frames: [], reconnects: 0, refused: 0, closeCodes: [] };
  const deadline = Date.now() + (options.deadlineMs ?? 90_000);
  const query = { query: options.query ?? "count", session_id: sessionId, request_id: requestId };
  let connections = 0;
  while (Date.now() < deadline) {
    let socket: WebSocket;
    try {
      socket = await open(url);
    } catch {
      result.refused++;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 150));
      continue;
    }
    if (connections++ > 0) result.reconnects++;
    const ended = follow(socket, requestId, result, () => socket.send(JSON.stringify(query)));
    if (connections === 1) socket.send(JSON.stringify(query));
    else {
      const lastSeq = (result.frames.at(-1)?.seq as number | undefined) ?? -1;
      socket.send(JSON.stringify({ type: "resume", request_id: requestId, last_seq: lastSeq }));
    }
    // The safety bound also ends a wait on a socket that went silent.
    const timer = setTimeout(() => socket.close(4000, "deadline"), deadline - Date.now());
    const done = await ended;
    clearTimeout(timer);
    if (done) return result;
  }
  return { ...result, timedOut: true };
}

/** The `seq` of every frame, for an "exactly once, in order" assertion. */
export function seqsOf(frames: Frame[]): unknown[] {
  return frames.map((frame) => frame.seq);
}
