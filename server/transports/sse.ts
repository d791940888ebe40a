/**
 * `GET /agent_chat_stream`: the retained SSE endpoint. Same frames as the
 * native WebSocket dialect, one `data:` line each, with an `id:` of
 * `<request_id>:<seq>`, a `retry:` hint and comment heartbeats.
 *
 * Resume: a request carrying `Last-Event-ID: <request_id>:<seq>` (what
 * `EventSource` sends when it reconnects by itself) gets the rest of that
 * answer instead of a new one. A client that goes away leaves its answer
 * running for the grace period, so such a reconnect finds it.
 *
 * Backpressure: the answer pauses while the stream's queue is full; a
 * client that stays stalled past `STALL_TIMEOUT_MS` has its stream torn
 * down and its answer stopped. On graceful shutdown the answer ends with a
 * final `error` event (`shutting_down`) carrying a `retry:` field, then
 * the stream closes.
 * @module
 */
import type { Handler } from "hono";
import { ErrorCode, ID_PATTERN } from "../../protocol/codes.ts";
import { decodeSseQuery, type QueryFrame } from "../../protocol/frames.ts";
import type { Config } from "../config.ts";
import type { ConnectionRegistry } from "../connections.ts";
import { isFinal, newId, TurnStop } from "../core.ts";
import { NativeEncoder } from "../encode.ts";
import type { GuardEnv, Lease } from "../guards/env.ts";
import type { Logger } from "../log.ts";
import { type Producer, resumeRefusal, type StreamHub, type Subscriber } from "../streams/hub.ts";

const HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};
const HEARTBEAT = new TextEncoder().encode(": ping\n\n");

/** What the SSE handler needs. */
export interface SseDeps {
  hub: StreamHub;
  config: Config;
  registry: ConnectionRegistry;
  log: Logger;
}

/** Where a resumed stream picks up: after `lastSeq` of answer `requestId`. */
interface ResumePoint {
  requestId: string;
  lastSeq: number;
}

/** Parses a `Last-Event-ID` of the form `<request_id>:<seq>`; undefined when absent or foreign. */
export function parseLastEventId(value: string | undefined): ResumePoint | undefined {
  const match = value ? /^([^:]+):(\d{1,15})$/.exec(value.trim()) : null;
  if (!match || !ID_PATTERN.test(match[1])) return undefined;
  return { requestId: match[1], lastSeq: Number(match[2]) };
}

/** The SSE handler. */
export function sseHandler(deps: SseDeps): Handler<GuardEnv> {
  return (c) => {
    const decoded = decodeSseQuery({
      query: c.req.query("query"),
      session_id: c.req.query("session_id"),
    });
    if (!decoded.ok) {
      return c.json({ error: { code: decoded.code, message: decoded.message } }, 400);
    }
    const frame = decoded.frame as QueryFrame;
    const lease = c.get("lease") as Lease | undefined;
    lease?.hold();
    return new Response(
      sseBody(deps, {
        query: frame.query,
        sessionId: frame.session_id,
        resume: parseLastEventId(c.req.header("last-event-id")),
        lease,
        identity: c.get("identity") as string | undefined,
      }),
      { headers: HEADERS },
    );
  };
}

interface SseRequest {
  query: string;
  sessionId?: string;
  resume?: ResumePoint;
  lease?: Lease;
  identity?: string;
}

function sseBody(deps: SseDeps, request: SseRequest): ReadableStream<Uint8Array> {
  const { config, registry, hub } = deps;
  const text = new TextEncoder();
  const resume = request.resume;
  const requestId = resume?.requestId ?? newId();
  const encoder = new NativeEncoder(resume && { requestId, lastSeq: resume.lastSeq });
  const tail = new AbortController();
  const { promise: done, resolve: settle } = Promise.withResolvers<void>();
  let producer: Producer | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let stall: ReturnType<typeof setTimeout> | undefined;
  let quiet = true;
  let ended = false;
  let drained: (() => void) | undefined;
  let prefix = `retry: ${config.SSE_RETRY_MS}\n`;
  let stream: ReadableStreamDefaultController<Uint8Array>;
  const release = () => {
    if (ended) return false;
    ended = true;
    clearInterval(heartbeat);
    clearTimeout(stall);
    unregister();
    request.lease?.release();
    drained?.();
    settle();
    return true;
  };
  /** The answer is over for this client: close the stream normally. */
  const close = () => {
    if (!release()) return;
    try {
      stream.close();
    } catch {
      // Already cancelled by the client.
    }
  };
  const tearDown = (stop?: TurnStop) => {
    if (stop) producer?.cancel(stop);
    tail.abort();
    producer?.unsubscribe(subscriber, false);
    if (!release()) return;
    try {
      stream.error(new Error("Stream closed by the server"));
    } catch {
      // Already closed.
    }
  };
  const write = (json: string, seq: number) => {
    stream.enqueue(text.encode(`${prefix}id: ${requestId}:${seq}\ndata: ${json}\n\n`));
    prefix = "";
    quiet = false;
  };
  const subscriber: Subscriber = {
    deliver(item) {
      if (ended) return;
      write(encoder.encode(item.event), encoder.lastSeq);
      if (isFinal(item.event)) {
        close();
        return;
      }
      if ((stream.desiredSize ?? 1) <= 0) {
        stall = setTimeout(
          () => tearDown(new TurnStop(ErrorCode.Timeout, "The client stopped reading")),
          config.STALL_TIMEOUT_MS,
        );
        return new Promise<void>((resolve) => (drained = resolve));
      }
    },
  };
  const unregister = registry.add({
    async drain() {
      prefix = `retry: ${config.SSE_RETRY_MS}\n`;
      if (producer) {
        producer.cancel(
          new TurnStop(ErrorCode.ShuttingDown, "The server is restarting; reconnect shortly"),
        );
        drained?.();
        await done;
      } else close();
    },
    terminate: () => tearDown(),
  });
  const follow = async (point: ResumePoint) => {
    const result = await hub.resume(point.requestId, point.lastSeq, subscriber, {
      signal: tail.signal,
      identity: request.identity,
      onAttach: (attached) => (producer = attached),
    });
    if (result === "resumed") {
      if (!producer || producer.ended) close();
      return;
    }
    const refusal = resumeRefusal(result, point.requestId);
    write(
      JSON.stringify({ type: "error", ...refusal, request_id: point.requestId }),
      point.lastSeq,
    );
    close();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stream = controller;
      heartbeat = setInterval(() => {
        if (quiet && (controller.desiredSize ?? 1) > 0) controller.enqueue(HEARTBEAT);
        quiet = true;
      }, config.SSE_HEARTBEAT_MS);
      if (resume) {
        follow(resume).catch((error) => {
          deps.log.error("Cannot resume answer", { requestId, error });
          close();
        });
        return;
      }
      producer = hub.start(
        {
          query: request.query,
          sessionId: request.sessionId ?? newId(),
          requestId,
        },
        subscriber,
        request.identity,
      );
    },
    pull() {
      clearTimeout(stall);
      drained?.();
      drained = undefined;
    },
    cancel() {
      // The client went away: the answer goes on for the grace period, so an
      // EventSource reconnect with Last-Event-ID can pick it up.
      tail.abort();
      producer?.unsubscribe(subscriber, true);
      release();
    },
  }, { highWaterMark: 64 });
}
