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
 * down and its answer stopped. On graceful restart the stream just ends:
 * the answer runs on (logged) and EventSource reconnects with
 * Last-Event-ID to whichever instance the load balancer picks.
 * @module
 */
import type { Context } from "@opentelemetry/api";
import type { Handler } from "hono";
import { ErrorCode, ID_PATTERN } from "../../../protocol/codes.ts";
import { decodeSseQuery, type QueryFrame } from "../../../protocol/frames.ts";
import type { Config } from "../../config.ts";
import type { ConnectionRegistry } from "../../connections.ts";
import { newId } from "../../core.ts";
import { NativeEncoder } from "../../encode.ts";
import type { GuardEnv, Lease } from "../../guards/env.ts";
import { errorResponse } from "../../http_error.ts";
import type { Logger } from "../../log.ts";
import { Delivery, stallStop } from "../../streams/delivery.ts";
import type { StreamHub } from "../../streams/hub.ts";
import { requestContext } from "../../telemetry/mod.ts";
import { EVENT_STREAM_HEADERS, EventStream } from "./event_stream.ts";

/** What the SSE handler needs. */
export interface SseDeps {
  hub: StreamHub;
  config: Config;
  registry: ConnectionRegistry;
  logger: Logger;
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
      request_id: c.req.query("request_id"),
    });
    if (!decoded.ok) return errorResponse(c, 400, decoded.code, decoded.message);
    const frame = decoded.frame as QueryFrame;
    const resume = parseLastEventId(c.req.header("last-event-id"));
    // EventSource reconnects to the same URL (same request_id) with Last-Event-ID: a resume.
    if (!resume && frame.request_id && deps.hub.local(frame.request_id)) {
      return errorResponse(
        c,
        409,
        ErrorCode.Busy,
        `Cannot start: answer "${frame.request_id}" is already streaming`,
      );
    }
    const lease = c.get("lease") as Lease | undefined;
    lease?.hold();
    const body = openStream(deps, {
      query: frame.query,
      sessionId: frame.session_id,
      requestId: frame.request_id,
      resume,
      lease,
      identity: c.get("identity") as string | undefined,
      parent: requestContext(c.req.header("traceparent")),
    });
    return new Response(body, { headers: EVENT_STREAM_HEADERS });
  };
}

interface SseRequest {
  query: string;
  sessionId?: string;
  /** Chosen by the client so a cancel can name it; default a fresh id. */
  requestId?: string;
  resume?: ResumePoint;
  lease?: Lease;
  identity?: string;
  /** The trace context the answer continues. */
  parent: Context;
}

/** Streams one answer (new or resumed) as an event stream. */
function openStream(deps: SseDeps, request: SseRequest): ReadableStream<Uint8Array<ArrayBuffer>> {
  const { config, registry, hub } = deps;
  const resume = request.resume;
  const requestId = resume?.requestId ?? request.requestId ?? newId();
  const encoder = new NativeEncoder(resume && { requestId, lastSeq: resume.lastSeq });
  let stall: ReturnType<typeof setTimeout> | undefined;
  let paused: (() => void) | undefined;
  let sendRetry = true;
  let released = false;
  const connection = hub.telemetry.connection("sse", { parent: request.parent });
  const unpause = () => {
    clearTimeout(stall);
    paused?.();
    paused = undefined;
  };
  /** Frees the connection's slots once; true the first time. */
  const release = () => {
    if (released) return false;
    released = true;
    connection.end();
    unpause();
    unregister();
    request.lease?.release();
    return true;
  };
  const stream = new EventStream({
    heartbeatMs: config.SSE_HEARTBEAT_MS,
    highWaterMark: 64,
    onPull: unpause,
    // The client went away: the answer goes on for the grace period, so an
    // EventSource reconnect with Last-Event-ID can pick it up.
    onCancel: () => delivery.detach(true),
  });
  const send = (data: string, seq: number) => {
    stream.send({
      id: `${requestId}:${seq}`,
      data,
      retry: sendRetry ? config.SSE_RETRY_MS : undefined,
    });
    sendRetry = false;
  };
  const tearDown = () => {
    if (release()) stream.error(new Error("Stream closed by the server"));
    delivery.detach(false);
  };
  const delivery = new Delivery(hub, requestId, {
    identity: request.identity,
    logger: deps.logger,
    transport: "sse",
    write: (item) => send(encoder.encode(item), item.seq),
    pace: () => {
      if (!stream.full) return;
      stall = setTimeout(() => {
        delivery.stop(stallStop());
        tearDown();
      }, config.STALL_TIMEOUT_MS);
      return new Promise<void>((resolve) => (paused = resolve));
    },
    // The answer is over for this client: close the stream normally.
    onEnd: () => {
      if (release()) stream.close();
    },
  });
  const unregister = registry.add({
    // Restart: the answer runs on, logged; ending the stream makes
    // EventSource reconnect (after `retry`) with Last-Event-ID, anywhere.
    drain: () => {
      unpause();
      delivery.shutdown();
      return Promise.resolve();
    },
    terminate: tearDown,
  });
  if (resume) {
    void delivery.resume(resume.lastSeq, (refusal) => {
      send(JSON.stringify({ type: "error", ...refusal, request_id: requestId }), resume.lastSeq);
    });
  } else {
    delivery.start({
      query: request.query,
      sessionId: request.sessionId ?? newId(),
      origin: { transport: "sse", dialect: "native", parent: request.parent },
    });
  }
  return stream.body;
}
