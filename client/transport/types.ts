/**
 * The contract between the UI and a transport: what a question, an answer's
 * handlers and a transport look like, plus the timers and socket states the
 * transports share.
 * @module
 */
import type { ServerFrame, ServerFrameOf } from "../../protocol/frames.ts";
import type { TransportKind } from "../../protocol/page.ts";

export type { TransportKind };

/**
 * Connection state shown in the UI.
 * - `idle`: nothing open (SSE between answers), ready to ask
 * - `connecting`: the first connection is being made
 * - `open`: connected
 * - `reconnecting`: dropped; waiting for the next attempt
 * - `closed`: closed by the page
 */
export type ConnectionState =
  | "idle"
  | "connecting"
  | "open"
  | "reconnecting"
  | "closed";

/** One question. */
export interface Ask {
  query: string;
  /** Omitted: the server creates a session and names it in the `session` frame. */
  sessionId?: string;
  /** Chosen by the client so a `cancel` can name it. */
  requestId: string;
  /** Upload ids (of {@link ChatTransport.upload}) the agent may read; WebSocket only. */
  attachments?: string[];
  /**
   * Edit-and-resend (and regenerate): the server keeps only this many turns
   * of the session's history, then answers `query`.
   */
  keepTurns?: number;
}

/** A file to upload: a `File` (or any `Blob` with a name). */
export interface UploadFile {
  readonly name: string;
  readonly type: string;
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** What an upload is stored as: the server's `uploaded` frame. */
export type Uploaded = ServerFrameOf<"uploaded">;

/** Receives the frames of one answer. */
export interface AnswerHandlers {
  /** Every frame of the answer, in order; the last is `done` or `error`. */
  frame(frame: ServerFrame): void;
  /** The connection dropped before the answer ended; nothing more arrives. */
  lost(message: string): void;
}

/** A running answer. */
export interface AnswerHandle {
  readonly requestId: string;
  /** Asks the server to stop the answer; it ends with a `done` frame. */
  cancel(): void;
}

/** What the UI sees of a transport. */
export interface ChatTransport {
  readonly kind: TransportKind;
  readonly state: ConnectionState;
  /** Calls `listener` on every state change; returns an unsubscribe function. */
  subscribe(listener: (state: ConnectionState) => void): () => void;
  /** Sends a question; frames of its answer go to `handlers`. */
  ask(ask: Ask, handlers: AnswerHandlers): AnswerHandle;
  /** True when {@link upload} can work (WebSocket only). */
  readonly canUpload: boolean;
  /**
   * Uploads a file to the session; resolves with the server's `uploaded`
   * frame. @throws {UploadFailed} when refused or the connection drops
   */
  upload(file: UploadFile, options: { uploadId: string; sessionId: string }): Promise<Uploaded>;
  /** Closes the connection for good and stops reconnecting. */
  close(): void;
}

/** Timers, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The global timers. */
export const defaultTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/** `WebSocket.readyState` values (WHATWG), usable with any WebSocket constructor. */
export const SocketState = { Connecting: 0, Open: 1, Closing: 2, Closed: 3 } as const;

/** `EventSource.readyState` values (WHATWG). */
export const EventSourceState = { Connecting: 0, Open: 1, Closed: 2 } as const;

/** The message an answer ends with when its connection drops. */
export const LOST_MESSAGE = "Connection lost before the answer ended";
/** The message an answer ends with when the server no longer has it to resume. */
export const INTERRUPTED_MESSAGE =
  "Connection lost and the answer could not be resumed: it was interrupted";
/** How long a dropped answer may take to resume before it ends as lost, in ms. */
export const RESUME_TIMEOUT_MS = 20_000;
