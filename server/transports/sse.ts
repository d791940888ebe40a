/**
 * `GET /agent_chat_stream`: the retained SSE endpoint. Same frames as the
 * native WebSocket dialect, one `data:` line each, with an `id:` of
 * `<request_id>:<seq>`, a `retry:` hint and comment heartbeats.
 * @module
 */
import type { Handler } from "hono";
import { decodeSseQuery, type QueryFrame } from "../../protocol/frames.ts";
import type { Config } from "../config.ts";
import type { ChatCore } from "../core.ts";
import { NativeEncoder } from "../encode.ts";

const HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};
const HEARTBEAT = new TextEncoder().encode(": ping\n\n");

/** The SSE handler. */
export function sseHandler(core: ChatCore, config: Config): Handler {
  return (c) => {
    const decoded = decodeSseQuery({
      query: c.req.query("query"),
      session_id: c.req.query("session_id"),
    });
    if (!decoded.ok) {
      return c.json(
        { error: { code: decoded.code, message: decoded.message } },
        400,
      );
    }
    const frame = decoded.frame as QueryFrame;
    const abort = new AbortController();
    return new Response(
      sseBody(
        core,
        config,
        { query: frame.query, sessionId: frame.session_id },
        abort,
      ),
      { headers: HEADERS },
    );
  };
}

function sseBody(
  core: ChatCore,
  config: Config,
  request: { query: string; sessionId?: string },
  abort: AbortController,
): ReadableStream<Uint8Array> {
  const text = new TextEncoder();
  const encoder = new NativeEncoder();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let quiet = true;
  let drained: (() => void) | undefined;
  let prefix = `retry: ${config.SSE_RETRY_MS}\n`;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      heartbeat = setInterval(() => {
        if (quiet) controller.enqueue(HEARTBEAT);
        quiet = true;
      }, config.SSE_HEARTBEAT_MS);
      const requestId = crypto.randomUUID();
      core
        .run({ ...request, requestId }, {
          signal: abort.signal,
          emit(event) {
            if (abort.signal.aborted) return;
            const json = encoder.encode(event);
            controller.enqueue(
              text.encode(
                `${prefix}id: ${requestId}:${encoder.lastSeq}\ndata: ${json}\n\n`,
              ),
            );
            prefix = "";
            quiet = false;
            if ((controller.desiredSize ?? 1) <= 0) {
              return new Promise<void>((resolve) => (drained = resolve));
            }
          },
        })
        .finally(() => {
          clearInterval(heartbeat);
          try {
            controller.close();
          } catch {
            // Already cancelled by the client.
          }
        });
    },
    pull() {
      drained?.();
      drained = undefined;
    },
    cancel() {
      clearInterval(heartbeat);
      abort.abort();
      drained?.();
    },
  }, { highWaterMark: 64 });
}
