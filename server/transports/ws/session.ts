/**
 * What the dialect and upload modules of `/ws/chat` use of their socket:
 * the connection's dependencies, its active answer and how to send.
 * @module
 */
import type { ErrorCode } from "../../../protocol/codes.ts";
import type { ServerFrame } from "../../../protocol/frames.ts";
import type { Attachment } from "../../agents/types.ts";
import type { Config } from "../../config.ts";
import type { Budgets } from "../../guards/budgets.ts";
import type { FrameEncoder } from "../../encode.ts";
import type { Logger } from "../../log.ts";
import type { SessionStore, UploadStore } from "../../store/types.ts";
import type { Delivery } from "../../streams/delivery.ts";
import type { Dialect } from "../../telemetry/mod.ts";
import type { StartRefusal, StreamHub } from "../../streams/hub.ts";

/** What a WebSocket connection needs. */
export interface WsDeps {
  hub: StreamHub;
  uploads: UploadStore;
  /** Session ownership: an upload goes only into a session of its identity. */
  sessions: SessionStore;
  /** Per-client-key budgets (messages, uploads), shared by the fleet. */
  budgets: Budgets;
  config: Config;
  logger: Logger;
}

/** The answer a socket is receiving. */
export interface ActiveAnswer {
  /** The id the client uses for it (cancel, abort). */
  requestId: string;
  /** Delivers the answer to this socket. */
  delivery: Delivery;
}

/** A question to start on this socket. */
export interface StartTurn {
  /** The dialect the question came in. */
  dialect: Dialect;
  query: string;
  sessionId?: string;
  /** The client's id for the answer; a fresh one when absent. */
  requestId?: string;
  attachments?: Attachment[];
  /** Answer the session's last question again, replacing its turn. */
  regenerate?: boolean;
  /** Edit-and-resend: keep only this many turns of history, then answer `query`. */
  keepTurns?: number;
  /** Tells the client, in its dialect, why the answer was not started. */
  refused(refusal: StartRefusal): void;
}

/** One open socket, as its dialects see it. */
export interface WsSession {
  readonly deps: WsDeps;
  /** The authenticated identity, when authentication is on. */
  readonly identity: string | undefined;
  /** Whose budgets this socket draws on (identity, else client address). */
  readonly clientKey: string;
  /** The answer streaming on this socket, if any. */
  readonly active: ActiveAnswer | undefined;
  /** True once the socket closed (or is closing): nothing new may start on it. */
  readonly closed: boolean;
  /** Sends one text frame (dropped once the socket closed). */
  send(frame: string): void;
  /** Makes `encoder`'s frames of answer `answerId` the socket's active answer. */
  attach(requestId: string, answerId: string, encoder: FrameEncoder): Delivery;
  /** Starts a new answer on this socket. */
  start(turn: StartTurn, encoder: FrameEncoder): void;
  /** Logs the failure of an asynchronous frame handler. */
  settle(work: Promise<void>): void;
}

/** A native `error` frame. */
export function errorFrame(
  code: ErrorCode,
  message: string,
  ids: { requestId?: string; uploadId?: string; retryAfter?: number } = {},
): string {
  return JSON.stringify(
    {
      type: "error",
      code,
      message,
      request_id: ids.requestId,
      upload_id: ids.uploadId,
      retry_after: ids.retryAfter,
    } satisfies ServerFrame,
  );
}

/**
 * Whether `session`'s identity may use session `sessionId`: always with
 * authentication off; with it on, when the session is its own (a new one
 * becomes its own). Uploads go only into, and attachments come only from,
 * such a session.
 */
export function ownsSession(session: WsSession, sessionId: string): Promise<boolean> {
  const { identity, deps } = session;
  if (identity === undefined) return Promise.resolve(true);
  return deps.sessions.claim?.(sessionId, identity) ?? Promise.resolve(false);
}

/** The message of a `busy` error while `active` streams. */
export function busyMessage(active: ActiveAnswer): string {
  return `Cannot start: answer "${active.requestId}" is still streaming on this socket; cancel it or wait for "done"`;
}
