/**
 * `POST /agent_chat_stream/cancel`: stops an answer an SSE client is
 * reading. Closing an `EventSource` is a drop, not a cancel (the answer
 * goes on for the resume grace period), so the page's Stop calls this with
 * the `request_id` it chose for the stream. It sits behind the same guards
 * as the stream (origin, authentication) and cancels only an answer of the
 * caller's identity, here or on another instance (through the stream log).
 * @module
 */
import type { Handler } from "hono";
import { z } from "zod";
import { ErrorCode, ID_PATTERN } from "../../../protocol/codes.ts";
import type { GuardEnv } from "../../guards/env.ts";
import { errorResponse } from "../../http_error.ts";
import { cancelUnreachable, type StreamHub } from "../../streams/hub.ts";

const CancelBody = z.object({ request_id: z.string().regex(ID_PATTERN) });

/**
 * The cancel handler: 200 `{ "cancelled": true }`, 400 for a bad body, 404
 * when nothing to stop, 503 when the stream log cannot be reached.
 */
export function sseCancelHandler(hub: StreamHub): Handler<GuardEnv> {
  return async (c) => {
    const body = CancelBody.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) {
      return errorResponse(
        c,
        400,
        ErrorCode.InvalidFrame,
        'Cannot cancel: the body must be JSON with a "request_id" matching ' + ID_PATTERN.source,
      );
    }
    const requestId = body.data.request_id;
    let cancelled: boolean;
    try {
      cancelled = await hub.cancel(requestId, c.get("identity"));
    } catch {
      return errorResponse(c, 503, ErrorCode.Unavailable, cancelUnreachable(requestId));
    }
    if (!cancelled) {
      return errorResponse(
        c,
        404,
        ErrorCode.NotFound,
        `Cannot cancel: no running answer with request_id "${requestId}"`,
      );
    }
    hub.telemetry.cancelled("sse");
    return c.json({ cancelled: true, request_id: requestId });
  };
}
