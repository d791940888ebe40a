/**
 * The AI SDK dialect of `/ws/chat` (`WebSocketChatTransport`): `send`
 * (`submit-message`, and `regenerate-message`: the server's last turn is
 * answered again and replaced), `resume` of a session's latest answer and
 * `abort`, answered with `start`/`chunk`/`end`/`error`/`no-active`.
 * @module
 */
import { ErrorCode } from "../../../protocol/codes.ts";
import {
  type AbortFrame,
  type AiSdkServerFrame,
  type ClientFrame,
  decodeSendQuery,
  type ResumeFrame,
  type SendFrame,
} from "../../../protocol/frames.ts";
import { UiChunkEncoder } from "../../encode.ts";
import type { Delivery } from "../../streams/delivery.ts";
import { busyMessage, type WsSession } from "./session.ts";

/** The frames of the AI SDK dialect. */
export type AiSdkFrame = SendFrame | ResumeFrame | AbortFrame;

/** True for the frames of the AI SDK dialect (its `resume` carries `requestId`). */
export function isAiSdkFrame(frame: ClientFrame): frame is AiSdkFrame {
  return frame.type === "send" || frame.type === "abort" ||
    (frame.type === "resume" && "requestId" in frame);
}

/** An AI SDK `error` frame for request `requestId`. */
export function aiSdkErrorFrame(requestId: string, code: ErrorCode, message: string): string {
  return JSON.stringify(
    { type: "error", requestId, errorText: message, code } satisfies AiSdkServerFrame,
  );
}

/** Handles one AI SDK frame. */
export function handleAiSdk(session: WsSession, frame: AiSdkFrame): void {
  switch (frame.type) {
    case "send":
      session.settle(send(session, frame));
      return;
    case "resume":
      session.settle(resume(session, frame));
      return;
    case "abort":
      if (session.active?.requestId === frame.requestId) {
        aborting.add(session.active.delivery);
        session.settle(session.active.delivery.cancel().then(() => {}));
      }
      return;
  }
}

/** Sends a `busy` error when an answer streams on the socket; true when it did. */
function rejectIfBusy(session: WsSession, requestId: string): boolean {
  if (!session.active) return false;
  session.send(aiSdkErrorFrame(requestId, ErrorCode.Busy, busyMessage(session.active)));
  return true;
}

/** Answers aborted by the client, ending: a `send` waits for them instead of getting `busy`. */
const aborting = new WeakSet<Delivery>();

async function send(session: WsSession, frame: SendFrame): Promise<void> {
  // A regenerate answers the server's last question again; no text to check.
  const regenerate = frame.trigger === "regenerate-message";
  const decoded = regenerate ? { ok: true as const, query: "" } : decodeSendQuery(frame);
  if (!decoded.ok) {
    session.send(aiSdkErrorFrame(frame.requestId, decoded.code, decoded.message));
    return;
  }
  // `abort` then `send` at once (the AI SDK's stop, then a new message):
  // the aborted answer ends within moments; wait for it.
  const ending = session.active?.delivery;
  if (ending && aborting.has(ending)) await ending.done;
  if (rejectIfBusy(session, frame.requestId)) return;
  session.start(
    {
      dialect: "ai_sdk",
      query: decoded.query,
      sessionId: frame.id,
      requestId: frame.requestId,
      regenerate,
      refused: ({ code, message }) => {
        session.send(aiSdkErrorFrame(frame.requestId, code, message));
      },
    },
    new UiChunkEncoder(frame.requestId),
  );
}

/** Resumes the latest answer of session `frame.id`, replaying past `lastSequence`. */
async function resume(session: WsSession, frame: ResumeFrame): Promise<void> {
  const { requestId } = frame;
  if (rejectIfBusy(session, requestId)) return;
  // Only the identity's own answers: another's is `no-active`, its id never shown.
  const answerId = await session.deps.hub.latest(frame.id, session.identity);
  if (!answerId || session.active) {
    session.send(JSON.stringify({ type: "no-active", requestId } satisfies AiSdkServerFrame));
    return;
  }
  session.send(JSON.stringify({ type: "start", requestId } satisfies AiSdkServerFrame));
  const encoder = new UiChunkEncoder(requestId, { skipThrough: frame.lastSequence });
  const delivery = session.attach(requestId, answerId, encoder);
  await delivery.resume(-1, ({ code, message }) => {
    session.send(aiSdkErrorFrame(requestId, code, message));
  });
}
