/**
 * The AI SDK's default HTTP transport (`DefaultChatTransport`):
 * `POST /api/chat` answers with the UI message stream over SSE (one chunk
 * per `data:` line, then `data: [DONE]`), and `GET /api/chat/{id}/stream`
 * resumes the chat's latest answer (204 when there is none). Both go
 * through the same delivery layer and stream log as the WebSocket and SSE
 * transports, so an AI SDK app moves between HTTP and WebSocket by
 * changing its transport line.
 * @module
 */
import type { Handler } from "hono";
import { z } from "zod";
import { ErrorCode, ID_PATTERN } from "../../../protocol/codes.ts";
import { decodeSendQuery, SendFrame } from "../../../protocol/frames.ts";
import { isFinal, newId } from "../../core.ts";
import { UiChunkEncoder } from "../../encode.ts";
import type { GuardEnv, Lease } from "../../guards/env.ts";
import { errorResponse } from "../../http_error.ts";
import { chatOwner } from "../../guards/owner.ts";
import {
  admitAnswer,
  type AnswerStreamDeps,
  openAnswerStream,
  type StreamDialect,
} from "../sse/answer_stream.ts";
import { EVENT_STREAM_HEADERS } from "../sse/event_stream.ts";
import { requestContext } from "../../telemetry/mod.ts";

/** Path of the AI SDK HTTP transport. */
export const AI_SDK_CHAT_PATH = "/api/chat";

/** The headers of a UI message stream response. */
const UI_STREAM_HEADERS = { ...EVENT_STREAM_HEADERS, "x-vercel-ai-ui-message-stream": "v1" };

/** The body `DefaultChatTransport` posts: a `send` frame without its WebSocket fields. */
const ChatBody = SendFrame.omit({ type: true, requestId: true });

/** The UI message stream dialect: bare chunks, `[DONE]` after the last. */
function uiStreamDialect(encoder: UiChunkEncoder): StreamDialect {
  return {
    write: (item, send) => {
      encoder.write(item, (frame) => send(frame));
      if (isFinal(item.event)) send("[DONE]");
    },
    refusal: ({ message }, send) => {
      send(JSON.stringify({ type: "error", errorText: message }));
      send("[DONE]");
    },
  };
}

/** `POST /api/chat`: starts an answer and streams it. */
export function aiSdkChatHandler(deps: AnswerStreamDeps): Handler<GuardEnv> {
  return async (c) => {
    const parsed = ChatBody.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return errorResponse(
        c,
        400,
        ErrorCode.InvalidFrame,
        `Cannot decode request: field "${issue.path.join(".")}" ${issue.message}`,
      );
    }
    const body = parsed.data;
    const requestId = newId();
    // A regenerate answers the server's last question again; no text to check.
    const regenerate = body.trigger === "regenerate-message";
    const decoded = regenerate
      ? { ok: true as const, query: "" }
      : decodeSendQuery({ ...body, type: "send", requestId });
    if (!decoded.ok) return errorResponse(c, 400, decoded.code, decoded.message);
    // Over the answer budget is a 429 before the stream starts.
    const slot = await admitAnswer(c, deps.hub);
    if (slot instanceof Response) return slot;
    const lease = c.get("lease") as Lease | undefined;
    lease?.hold();
    const stream = openAnswerStream(deps, {
      requestId,
      start: { query: decoded.query, sessionId: body.id, regenerate, owner: chatOwner(c) },
      lease,
      identity: c.get("identity"),
      client: c.get("client"),
      slot,
      parent: requestContext(c.req.header("traceparent")),
      protocol: "ai_sdk",
      dialect: uiStreamDialect(new UiChunkEncoder(requestId, { http: true })),
    });
    return new Response(stream, { headers: UI_STREAM_HEADERS });
  };
}

const Params = z.object({ id: z.string().regex(ID_PATTERN) });

/** `GET /api/chat/{id}/stream`: the chat's latest answer from its first chunk, or 204. */
export function aiSdkResumeHandler(deps: AnswerStreamDeps): Handler<GuardEnv> {
  return async (c) => {
    const params = Params.safeParse({ id: c.req.param("id") });
    if (!params.success) {
      return errorResponse(
        c,
        400,
        ErrorCode.InvalidSessionId,
        `Cannot resume: chat id must match ${ID_PATTERN.source}`,
      );
    }
    // Only the identity's own answer: another's is 204, its id never shown.
    const answerId = await deps.hub.latest(params.data.id, c.get("identity"));
    if (!answerId) return c.body(null, 204);
    const lease = c.get("lease") as Lease | undefined;
    lease?.hold();
    const stream = openAnswerStream(deps, {
      requestId: answerId,
      afterSeq: -1,
      lease,
      identity: c.get("identity"),
      parent: requestContext(c.req.header("traceparent")),
      protocol: "ai_sdk",
      dialect: uiStreamDialect(new UiChunkEncoder(answerId, { http: true })),
    });
    return new Response(stream, { headers: UI_STREAM_HEADERS });
  };
}
