/**
 * `GET /agent_chat_stream`: the retained SSE endpoint (`keep_turns=N`:
 * edit-and-resend, the session keeps only its first N turns first). Same frames as the
 * native WebSocket dialect, one `data:` line each, with an `id:` of
 * `<request_id>:<seq>`, a `retry:` hint and comment heartbeats.
 *
 * Resume: a request carrying `Last-Event-ID: <request_id>:<seq>` (what
 * `EventSource` sends when it reconnects by itself) gets the rest of that
 * answer instead of a new one. A client that goes away leaves its answer
 * running for the grace period, so such a reconnect finds it.
 *
 * Backpressure, stall, graceful restart: see `answer_stream.ts` (on
 * restart the stream just ends: the answer runs on, logged, and
 * EventSource reconnects with Last-Event-ID to whichever instance the load
 * balancer picks).
 * @module
 */
import type { Handler } from "hono";
import { ErrorCode, ID_PATTERN } from "../../../protocol/codes.ts";
import { decodeSseQuery, type QueryFrame } from "../../../protocol/frames.ts";
import { newId } from "../../core.ts";
import { NativeEncoder } from "../../encode.ts";
import type { GuardEnv, Lease } from "../../guards/env.ts";
import { errorResponse } from "../../http_error.ts";
import { chatOwner } from "../../guards/owner.ts";
import { requestContext } from "../../telemetry/mod.ts";
import { admitAnswer, type AnswerStreamDeps, openAnswerStream } from "./answer_stream.ts";
import { EVENT_STREAM_HEADERS } from "./event_stream.ts";

/** What the SSE handler needs. */
export type SseDeps = AnswerStreamDeps;

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

/** `keep_turns` (edit-and-resend): undefined when absent, null when not an integer >= 0. */
function parseKeepTurns(value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  return /^\d{1,6}$/.test(value) ? Number(value) : null;
}

/** The SSE handler. */
export function sseHandler(deps: SseDeps): Handler<GuardEnv> {
  return async (c) => {
    // The parameters parsed once (each `c.req.query(name)` reads the URL again).
    const params: Record<string, string | undefined> = c.req.query();
    const decoded = decodeSseQuery({
      query: params.query,
      session_id: params.session_id,
      request_id: params.request_id,
    });
    if (!decoded.ok) return errorResponse(c, 400, decoded.code, decoded.message);
    const frame = decoded.frame as QueryFrame;
    const keepTurns = parseKeepTurns(params.keep_turns);
    if (keepTurns === null) {
      return errorResponse(
        c,
        400,
        ErrorCode.InvalidFrame,
        'Invalid request: parameter "keep_turns" must be an integer >= 0',
      );
    }
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
    // Over the answer budget is a 429 before the stream starts (resumes start nothing).
    const slot = resume ? undefined : await admitAnswer(c, deps.hub);
    if (slot instanceof Response) return slot;
    const lease = c.get("lease") as Lease | undefined;
    lease?.hold();
    const requestId = resume?.requestId ?? frame.request_id ?? newId();
    const encoder = new NativeEncoder(resume && { requestId, lastSeq: resume.lastSeq });
    const body = openAnswerStream(deps, {
      requestId,
      start: resume ? undefined : {
        query: frame.query,
        sessionId: frame.session_id ?? newId(),
        keepTurns,
        owner: chatOwner(c),
      },
      afterSeq: resume?.lastSeq,
      lease,
      identity: c.get("identity") as string | undefined,
      parent: requestContext(c.req.header("traceparent")),
      protocol: "native",
      dialect: {
        retry: true,
        write: (item, send) => send(encoder.encode(item), `${requestId}:${item.seq}`),
        refusal: ({ code, message, retryAfter }, send) =>
          send(
            JSON.stringify({
              type: "error",
              code,
              message,
              request_id: requestId,
              retry_after: retryAfter,
            }),
            `${requestId}:${resume?.lastSeq ?? 0}`,
          ),
      },
      clientChosenId: !resume && frame.request_id !== undefined,
      client: c.get("client") as string | undefined,
      slot,
    });
    return new Response(body, { headers: EVENT_STREAM_HEADERS });
  };
}
