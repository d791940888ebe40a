/**
 * `GET /agent_chat_stream`: the retained SSE endpoint. Same frames as the
 * native WebSocket dialect, one `data:` line each, with an `id:` of
 * `<request_id>:<seq>`, a `retry:` hint and comment heartbeats.
 *
 * Backpressure: the agent pauses while the stream's queue is full; a
 * client that stays stalled past `STALL_TIMEOUT_MS` has its stream torn
 * down and its agent aborted. On graceful shutdown the turn ends with a
 * final `error` event (`shutting_down`) carrying a `retry:` field, then
 * the stream closes.
 * @module
 */
import type { Handler } from "hono";
import { ErrorCode } from "../../protocol/codes.ts";
import { decodeSseQuery, type QueryFrame } from "../../protocol/frames.ts";
import type { Config } from "../config.ts";
import type { ConnectionRegistry } from "../connections.ts";
import { type ChatCore, TurnStop } from "../core.ts";
import { NativeEncoder } from "../encode.ts";
import type { GuardEnv, Lease } from "../guards/env.ts";

const HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};
const HEARTBEAT = new TextEncoder().encode(": ping\n\n");

/** The SSE handler. */
export function sseHandler(
  core: ChatCore,
  deps: { config: Config; registry: ConnectionRegistry },
): Handler<GuardEnv> {
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
    const lease = c.get("lease") as Lease | undefined;
    lease?.hold();
    return new Response(
      sseBody(core, deps, {
        query: frame.query,
        sessionId: frame.session_id,
      }, { lease, identity: c.get("identity") as string | undefined }),
      { headers: HEADERS },
    );
  };
}

function sseBody(
  core: ChatCore,
  deps: { config: Config; registry: ConnectionRegistry },
  request: { query: string; sessionId?: string },
  { lease, identity }: { lease?: Lease; identity?: string },
): ReadableStream<Uint8Array> {
  const { config, registry } = deps;
  const abort = new AbortController();
  const text = new TextEncoder();
  const encoder = new NativeEncoder();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let stall: ReturnType<typeof setTimeout> | undefined;
  let quiet = true;
  let ended = false;
  let drained: (() => void) | undefined;
  let prefix = `retry: ${config.SSE_RETRY_MS}\n`;
  let done: Promise<void> = Promise.resolve();
  let stream: ReadableStreamDefaultController<Uint8Array>;
  const finish = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    clearTimeout(stall);
    unregister();
    lease?.release();
  };
  const tearDown = (stop?: TurnStop) => {
    abort.abort(stop);
    drained?.();
    finish();
    try {
      stream.error(new Error("Stream closed by the server"));
    } catch {
      // Already closed.
    }
  };
  const unregister = registry.add({
    async drain() {
      prefix = `retry: ${config.SSE_RETRY_MS}\n`;
      abort.abort(
        new TurnStop(ErrorCode.ShuttingDown, "The server is restarting; reconnect shortly"),
      );
      drained?.();
      await done;
    },
    terminate: () => tearDown(),
  });
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stream = controller;
      heartbeat = setInterval(() => {
        if (quiet && (controller.desiredSize ?? 1) > 0) controller.enqueue(HEARTBEAT);
        quiet = true;
      }, config.SSE_HEARTBEAT_MS);
      const requestId = crypto.randomUUID();
      done = core
        .run({ ...request, requestId }, {
          signal: abort.signal,
          identity,
          emit(event) {
            if (ended) return;
            if (abort.signal.aborted && event.type !== "finish" && event.type !== "error") return;
            const json = encoder.encode(event);
            controller.enqueue(
              text.encode(
                `${prefix}id: ${requestId}:${encoder.lastSeq}\ndata: ${json}\n\n`,
              ),
            );
            prefix = "";
            quiet = false;
            if ((controller.desiredSize ?? 1) <= 0) {
              stall = setTimeout(
                () => tearDown(new TurnStop(ErrorCode.Timeout, "The client stopped reading")),
                config.STALL_TIMEOUT_MS,
              );
              return new Promise<void>((resolve) => (drained = resolve));
            }
          },
        })
        .finally(() => {
          if (ended) return;
          finish();
          try {
            controller.close();
          } catch {
            // Already cancelled by the client.
          }
        });
    },
    pull() {
      clearTimeout(stall);
      drained?.();
      drained = undefined;
    },
    cancel() {
      abort.abort();
      drained?.();
      finish();
    },
  }, { highWaterMark: 64 });
}
