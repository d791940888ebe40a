/**
 * The native (seed) dialect of `/ws/chat`: `query` (with attachments),
 * `regenerate` and `edit`, `cancel`, `resume` after a sequence number and
 * `ping`, answered with the seed's frames.
 * @module
 */
import { ErrorCode } from "../../../protocol/codes.ts";
import type {
  CancelFrame,
  EditFrame,
  NativeResumeFrame,
  PingFrame,
  QueryFrame,
  RegenerateFrame,
  ServerFrame,
} from "../../../protocol/frames.ts";
import type { Attachment } from "../../agents/types.ts";
import { NativeEncoder } from "../../encode.ts";
import { cancelUnreachable } from "../../streams/hub.ts";
import { busyMessage, errorFrame, ownsSession, type StartTurn, type WsSession } from "./session.ts";

/** The frames of the native dialect (uploads aside). */
export type NativeFrame =
  | QueryFrame
  | RegenerateFrame
  | EditFrame
  | CancelFrame
  | NativeResumeFrame
  | PingFrame;

/** Handles one native frame. */
export function handleNative(session: WsSession, frame: NativeFrame): void {
  switch (frame.type) {
    case undefined:
    case "query":
      session.settle(query(session, frame));
      return;
    case "regenerate":
    case "edit":
      if (rejectIfBusy(session, frame.request_id)) return;
      session.start(
        {
          dialect: "native",
          query: frame.type === "edit" ? frame.query : "",
          sessionId: frame.session_id,
          requestId: frame.request_id,
          ...(frame.type === "edit" ? { keepTurns: frame.turn } : { regenerate: true }),
          refused: refuser(session, frame.request_id),
        },
        new NativeEncoder(),
      );
      return;
    case "cancel":
      session.settle(cancelAnswer(session, frame.request_id));
      return;
    case "ping":
      session.send(JSON.stringify({ type: "pong", id: frame.id } satisfies ServerFrame));
      return;
    case "resume":
      resume(session, frame);
      return;
  }
}

/** Tells the client why its answer was not started (`request_id` in use, answer budget). */
function refuser(session: WsSession, requestId: string | undefined): StartTurn["refused"] {
  return ({ code, message, retryAfter }) => {
    session.send(errorFrame(code, message, { requestId, retryAfter }));
  };
}

/** Sends a `busy` error when an answer streams on the socket; true when it did. */
function rejectIfBusy(session: WsSession, requestId: string | undefined): boolean {
  if (!session.active) return false;
  session.send(errorFrame(ErrorCode.Busy, busyMessage(session.active), { requestId }));
  return true;
}

async function query(session: WsSession, frame: QueryFrame): Promise<void> {
  if (rejectIfBusy(session, frame.request_id)) return;
  let attachments: Attachment[] | undefined;
  if (frame.attachments?.length) {
    attachments = await loadAttachments(session, frame);
    // The socket may have closed while the uploads loaded: start nothing for no one.
    if (!attachments || session.closed || rejectIfBusy(session, frame.request_id)) return;
  }
  session.start(
    {
      dialect: "native",
      query: frame.query,
      sessionId: frame.session_id,
      requestId: frame.request_id,
      attachments,
      refused: refuser(session, frame.request_id),
    },
    new NativeEncoder(),
  );
}

async function loadAttachments(
  session: WsSession,
  frame: QueryFrame,
): Promise<Attachment[] | undefined> {
  const requestId = frame.request_id;
  if (!frame.session_id) {
    session.send(errorFrame(
      ErrorCode.InvalidFrame,
      'Cannot decode frame: field "session_id" is required with "attachments"',
      { requestId },
    ));
    return undefined;
  }
  // Another identity's session looks empty: "not yours" and "missing" get the same error.
  const owned = await ownsSession(session, frame.session_id);
  const found: Attachment[] = [];
  for (const uploadId of frame.attachments ?? []) {
    const upload = owned ? await session.deps.uploads.load(frame.session_id, uploadId) : undefined;
    if (!upload) {
      session.send(errorFrame(
        ErrorCode.NotFound,
        `Cannot answer: no upload "${uploadId}" in session "${frame.session_id}"`,
        { requestId },
      ));
      return undefined;
    }
    found.push({ name: upload.name, mime: upload.mime, size: upload.size, text: upload.text });
  }
  return found;
}

/** Cancels the socket's answer, or any answer by id (here or on another instance). */
export async function cancelAnswer(
  session: WsSession,
  requestId: string | undefined,
): Promise<void> {
  const active = session.active;
  const id = requestId ?? active?.requestId;
  try {
    if (active && id === active.requestId) {
      // A cancel that changes nothing (the answer already ended, or its producer is gone) says so.
      if (await active.delivery.cancel()) return;
    } else if (requestId && await session.deps.hub.cancel(requestId, session.identity)) {
      session.deps.hub.telemetry.cancelled("ws");
      return;
    }
  } catch {
    // The answer runs elsewhere and the stream log cannot be reached: say so, never nothing.
    session.send(errorFrame(ErrorCode.Unavailable, cancelUnreachable(id), { requestId }));
    return;
  }
  session.send(errorFrame(
    ErrorCode.NotFound,
    `Cannot cancel: no running answer${id ? ` with request_id "${id}"` : ""}`,
    { requestId },
  ));
}

function resume(session: WsSession, frame: NativeResumeFrame): void {
  const requestId = frame.request_id;
  if (rejectIfBusy(session, requestId)) return;
  const encoder = new NativeEncoder({ requestId, lastSeq: frame.last_seq });
  const delivery = session.attach(requestId, requestId, encoder);
  void delivery.resume(frame.last_seq, ({ code, message }) => {
    session.send(errorFrame(code, message, { requestId }));
  });
}
