/**
 * The reconnect-loop floods of issue 15, as one abusive client plays them:
 * a loop that opens `/ws/chat`, uploads files (or asks questions) until the
 * server refuses or closes, and reconnects at once. Used by the abuse tests
 * and runnable against any server to measure it:
 *
 *     deno run -A tests/helpers/flood.ts upload ws://127.0.0.1:8000/ws/chat 15
 * @module
 */

/** What a flood achieved. */
export interface FloodResult {
  /** Connections opened. */
  connections: number;
  /** Uploads the server confirmed (`uploaded`). */
  uploads: number;
  /** Bytes of the confirmed uploads. */
  bytes: number;
  /** Answers the server started (`session` frames: the first of an answer). */
  answers: number;
  /** `rate_limited` errors received. */
  rateLimited: number;
}

/** Options of a flood. */
export interface FloodOptions {
  /** How long the loop runs. */
  durationMs: number;
  /** Bytes per uploaded file (upload flood). */
  fileBytes?: number;
  /** Where to connect; with several, each connection goes to the next (instances of a fleet). */
  urls: string[];
  /** Headers of every connection (Deno's WebSocket takes them), e.g. `X-Forwarded-For`. */
  headers?: Record<string, string>;
  /** Stop after this many connections (bounds the loop on a fast machine). */
  maxConnections?: number;
}

const FRAME_BYTES = 60 * 1024;

/** Opens a WebSocket with headers (a Deno extension of the constructor). */
function open(url: string, headers: Record<string, string>): WebSocket {
  const Socket = WebSocket as unknown as new (
    url: string,
    options: { headers: Record<string, string> },
  ) => WebSocket;
  return new Socket(url, { headers });
}

function empty(): FloodResult {
  return { connections: 0, uploads: 0, bytes: 0, answers: 0, rateLimited: 0 };
}

/** Runs one connection of the loop: `act` sends, the frames are counted; ends when the socket closes or goes quiet. */
function oneConnection(
  url: string,
  headers: Record<string, string>,
  result: FloodResult,
  act: (socket: WebSocket, frame: Record<string, unknown> | undefined) => void,
  deadline: number,
): Promise<void> {
  return new Promise((resolve) => {
    const socket = open(url, headers);
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      clearTimeout(quiet);
      if (socket.readyState < WebSocket.CLOSING) socket.close();
      resolve();
    };
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(finish, 1_000);
    };
    socket.onopen = () => {
      result.connections++;
      arm();
      act(socket, undefined);
    };
    socket.onmessage = (event) => {
      arm();
      const frame = JSON.parse(String(event.data)) as Record<string, unknown>;
      if (frame.type === "uploaded") {
        result.uploads++;
        result.bytes += Number(frame.size);
      } else if (frame.type === "error" && frame.code === "rate_limited") {
        result.rateLimited++;
        // A refused upload or answer: this client reconnects and tries again.
        if (frame.retry_after !== undefined) return finish();
      }
      if (Date.now() >= deadline || socket.readyState !== WebSocket.OPEN) return finish();
      act(socket, frame);
    };
    socket.onerror = () => finish();
    socket.onclose = () => finish();
  });
}

/** Uploads `fileBytes`-byte text files back to back, reconnecting whenever the server refuses or closes. */
export async function uploadFlood(options: FloodOptions): Promise<FloodResult> {
  const result = empty();
  const deadline = Date.now() + options.durationMs;
  const bytes = new TextEncoder().encode("x".repeat(options.fileBytes ?? 240_000));
  let n = 0;
  const act = (socket: WebSocket, frame: Record<string, unknown> | undefined) => {
    if (frame && frame.type !== "uploaded" && frame.type !== "error") return;
    const uploadId = `flood-${n++}`;
    socket.send(JSON.stringify({
      type: "upload",
      upload_id: uploadId,
      name: `${uploadId}.txt`,
      mime: "text/plain",
      size: bytes.byteLength,
    }));
    for (let at = 0; at < bytes.byteLength; at += FRAME_BYTES) {
      socket.send(bytes.subarray(at, at + FRAME_BYTES));
    }
  };
  while (Date.now() < deadline && result.connections < (options.maxConnections ?? Infinity)) {
    const url = options.urls[result.connections % options.urls.length];
    await oneConnection(url, options.headers ?? {}, result, act, deadline);
  }
  return result;
}

/** Asks questions back to back (a new one as soon as an answer starts), reconnecting whenever refused or closed. */
export async function queryFlood(options: FloodOptions): Promise<FloodResult> {
  const result = empty();
  const deadline = Date.now() + options.durationMs;
  const act = (socket: WebSocket, frame: Record<string, unknown> | undefined) => {
    if (frame && frame.type !== "done" && frame.type !== "error") return;
    // A dropped socket leaves its answer running (grace period): ask, then drop.
    socket.send(JSON.stringify({ type: "query", query: "hello" }));
  };
  const dropAfterStart = async () => {
    await new Promise<void>((resolve) => {
      const url = options.urls[result.connections % options.urls.length];
      const socket = open(url, options.headers ?? {});
      const timer = setTimeout(() => socket.close(), 2_000);
      socket.onopen = () => {
        result.connections++;
        act(socket, undefined);
      };
      socket.onmessage = (event) => {
        const frame = JSON.parse(String(event.data)) as Record<string, unknown>;
        if (frame.type === "session") {
          result.answers++;
          // Drop without a close frame code the server counts as deliberate: 4000 keeps the answer running.
          socket.close(4000, "reconnecting");
        } else if (frame.type === "error" && frame.code === "rate_limited") {
          result.rateLimited++;
          socket.close(4000, "reconnecting");
        }
      };
      socket.onclose = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  };
  while (Date.now() < deadline && result.connections < (options.maxConnections ?? Infinity)) {
    await dropAfterStart();
  }
  return result;
}

if (import.meta.main) {
  const [kind, url, seconds] = Deno.args;
  const run = kind === "query" ? queryFlood : uploadFlood;
  const result = await run({ urls: [url], durationMs: Number(seconds ?? 10) * 1000 });
  console.log(JSON.stringify({ kind, seconds: Number(seconds ?? 10), ...result }));
}
