/**
 * The client transport: the only code in the browser that touches the wire.
 *
 * {@link WsTransport} keeps one WebSocket for many turns, reconnects after
 * a drop with exponential backoff and full jitter, resumes the running answer
 * on the new socket (`resume` frame) and uploads files (binary frames);
 * {@link SseTransport} opens one `EventSource` per answer and lets it
 * reconnect with `Last-Event-ID` mid-answer. Both decode frames with
 * {@link decodeFrame}, drop frames already delivered (by `seq`) and report a
 * {@link ConnectionState}; the UI only calls {@link ChatTransport.ask},
 * cancels through the returned handle and listens.
 * @module
 */
import { ErrorCode, SSE_PATH, WS_PATH } from "../protocol/codes.ts";
import type { ServerFrame, ServerFrameOf } from "../protocol/frames.ts";
import { backoffDelay, type BackoffOptions } from "./backoff.ts";
import { decodeFrame } from "./codec.ts";

/** Which wire a transport uses. */
export type TransportKind = "ws" | "sse";

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

/** Why an upload failed; `code` is the server's error code, or `connection_lost`. */
export class UploadFailed extends Error {
  /** Creates the error. */
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "UploadFailed";
  }
}

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

const defaultTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/** The message an answer ends with when its connection drops. */
export const LOST_MESSAGE = "Connection lost before the answer ended";
/** The message an answer ends with when the server no longer has it to resume. */
export const INTERRUPTED_MESSAGE =
  "Connection lost and the answer could not be resumed: it was interrupted";
/** Largest binary frame of an upload (the server's default frame limit). */
export const UPLOAD_CHUNK_BYTES = 64 * 1024;
/** How long a dropped answer may take to resume before it ends as lost, in ms. */
const RESUME_TIMEOUT_MS = 20_000;

const isFinal = (frame: ServerFrame) => frame.type === "done" || frame.type === "error";
const seqOf = (frame: ServerFrame) =>
  "seq" in frame && typeof frame.seq === "number" ? frame.seq : undefined;

abstract class BaseTransport {
  #state: ConnectionState;
  #listeners = new Set<(state: ConnectionState) => void>();

  constructor(initial: ConnectionState) {
    this.#state = initial;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  subscribe(listener: (state: ConnectionState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  protected setState(state: ConnectionState): void {
    if (state === this.#state) return;
    this.#state = state;
    for (const listener of this.#listeners) listener(state);
  }
}

/** Options for {@link WsTransport}. */
export interface WsTransportOptions {
  /** The WebSocket URL, e.g. `ws://host/ws/chat`. */
  url: string;
  /** The WebSocket constructor; default `globalThis.WebSocket`. */
  WebSocket?: new (url: string) => WebSocket;
  backoff?: BackoffOptions;
  timers?: Timers;
  /** Application ping interval while idle, in ms; 0 disables. Default 25 000. */
  pingIntervalMs?: number;
  /**
   * How long an answer cut off by a drop may wait for a new socket before
   * it ends as lost, in ms. Default 20 000 (the server keeps a dropped
   * answer running for 15 s).
   */
  resumeTimeoutMs?: number;
}

interface Pending {
  handlers: AnswerHandlers;
  /** The query frame, until it is on the wire. */
  unsent?: string;
  /** Highest `seq` delivered to the handlers; -1 before the first. */
  lastSeq: number;
  /** The socket dropped after the query went out: send `resume` on the next one. */
  resume: boolean;
  /** A `resume` was sent for it (so `not_found` means the answer is gone). */
  resumed: boolean;
  /** Ends the answer as lost when no socket comes back in time. */
  deadline?: unknown;
}

interface PendingUpload {
  id: string;
  resolve(frame: Uploaded): void;
  reject(error: UploadFailed): void;
}

/** Error codes (sent without a request id) that answer an upload. */
const UPLOAD_CODES: ReadonlySet<string> = new Set([
  ErrorCode.UploadTooLarge,
  ErrorCode.UnsupportedMedia,
  ErrorCode.UploadInvalid,
  ErrorCode.BinaryUnsupported,
  ErrorCode.InvalidFrame,
]);

const MIME_BY_EXTENSION: Record<string, string> = {
  txt: "text/plain",
  md: "text/markdown",
  markdown: "text/markdown",
  csv: "text/csv",
  json: "application/json",
  log: "text/plain",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
};

/**
 * The media type an upload is announced with: the browser's, or one
 * guessed from the extension when the browser has none.
 */
export function mimeOf(file: Pick<UploadFile, "name" | "type">): string {
  if (file.type) return file.type;
  const ext = /\.([A-Za-z0-9]+)$/.exec(file.name)?.[1].toLowerCase() ?? "";
  return MIME_BY_EXTENSION[ext] ?? "application/octet-stream";
}

/**
 * A WebSocket transport: one socket for many turns, reconnecting after a drop.
 *
 * A query asked while the socket is down is sent once it opens. An answer
 * whose query was already sent when the socket dropped is resumed on the
 * next socket: a `resume` frame names it and the last `seq` delivered, and
 * the server sends the rest. When the server no longer has it (`not_found`)
 * or no socket opens within `resumeTimeoutMs`, it ends with
 * {@link AnswerHandlers.lost} (a question is never re-sent on its own).
 */
export class WsTransport extends BaseTransport implements ChatTransport {
  /** Always `"ws"`. */
  readonly kind = "ws" as const;
  /** Files go over the socket as binary frames. */
  readonly canUpload = true;
  #url: string;
  #Ctor: new (url: string) => WebSocket;
  #backoff: BackoffOptions;
  #timers: Timers;
  #pingMs: number;
  #resumeMs: number;
  #ws: WebSocket | undefined;
  #attempt = 0;
  #retryTimer: unknown;
  #pingTimer: unknown;
  #pingId = 0;
  #pending = new Map<string, Pending>();
  /** Control frames (cancels) for the next socket. */
  #outbox: string[] = [];
  #upload: PendingUpload | undefined;
  #uploads: Promise<unknown> = Promise.resolve();
  #waiting: { resolve(ws: WebSocket): void; reject(error: UploadFailed): void }[] = [];
  #closed = false;

  /** Creates the transport and starts connecting. */
  constructor(options: WsTransportOptions) {
    super("connecting");
    this.#url = options.url;
    this.#Ctor = options.WebSocket ?? globalThis.WebSocket;
    this.#backoff = options.backoff ?? {};
    this.#timers = options.timers ?? defaultTimers;
    this.#pingMs = options.pingIntervalMs ?? 25_000;
    this.#resumeMs = options.resumeTimeoutMs ?? RESUME_TIMEOUT_MS;
    this.#connect();
  }

  /** Number of reconnect attempts since the last successful open. */
  get attempt(): number {
    return this.#attempt;
  }

  ask(ask: Ask, handlers: AnswerHandlers): AnswerHandle {
    const frame = JSON.stringify({
      type: "query",
      query: ask.query,
      request_id: ask.requestId,
      ...(ask.sessionId ? { session_id: ask.sessionId } : {}),
      ...(ask.attachments?.length ? { attachments: ask.attachments } : {}),
    });
    const pending: Pending = {
      handlers,
      unsent: frame,
      lastSeq: -1,
      resume: false,
      resumed: false,
    };
    this.#pending.set(ask.requestId, pending);
    this.#flush();
    return {
      requestId: ask.requestId,
      cancel: () => {
        const entry = this.#pending.get(ask.requestId);
        if (!entry) return;
        const cancel = JSON.stringify({ type: "cancel", request_id: ask.requestId });
        if (entry.unsent !== undefined || entry.resume) {
          // Not on the wire (never sent, or waiting for a new socket): end it
          // here; a dropped answer is still stopped on the server once we are back.
          if (entry.resume) this.#outbox.push(cancel);
          this.#forget(ask.requestId, entry);
          entry.handlers.frame({
            type: "done",
            finish_reason: "cancelled",
            cancelled: true,
            request_id: ask.requestId,
            seq: entry.lastSeq + 1,
          });
          return;
        }
        this.#send(cancel);
      },
    };
  }

  upload(file: UploadFile, options: { uploadId: string; sessionId: string }): Promise<Uploaded> {
    // The server takes one upload at a time per socket.
    const run = this.#uploads.then(() => this.#runUpload(file, options));
    this.#uploads = run.catch(() => {});
    return run;
  }

  async #runUpload(
    file: UploadFile,
    { uploadId, sessionId }: { uploadId: string; sessionId: string },
  ): Promise<Uploaded> {
    if (file.size === 0) {
      throw new UploadFailed(ErrorCode.UploadInvalid, `Cannot upload "${file.name}": it is empty`);
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    const ws = await this.#whenOpen();
    return await new Promise<Uploaded>((resolve, reject) => {
      this.#upload = { id: uploadId, resolve, reject };
      try {
        ws.send(JSON.stringify({
          type: "upload",
          upload_id: uploadId,
          name: file.name,
          mime: mimeOf(file),
          size: bytes.byteLength,
          session_id: sessionId,
        }));
        for (let at = 0; at < bytes.byteLength; at += UPLOAD_CHUNK_BYTES) {
          ws.send(bytes.subarray(at, at + UPLOAD_CHUNK_BYTES));
        }
      } catch {
        this.#failUpload("Connection lost during the upload");
      }
    });
  }

  /** Resolves with the socket once it is open. */
  #whenOpen(): Promise<WebSocket> {
    const ws = this.#ws;
    if (ws && ws.readyState === 1) return Promise.resolve(ws);
    if (this.#closed) {
      return Promise.reject(new UploadFailed("connection_lost", "Connection closed"));
    }
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #failUpload(message: string): void {
    const upload = this.#upload;
    this.#upload = undefined;
    upload?.reject(new UploadFailed("connection_lost", message));
  }

  close(): void {
    this.#closed = true;
    this.#timers.clearTimeout(this.#retryTimer);
    this.#stopPing();
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close(1000, "Closed by the page");
    this.#failUpload("Connection closed");
    for (const waiter of this.#waiting.splice(0)) {
      waiter.reject(new UploadFailed("connection_lost", "Connection closed"));
    }
    for (const [id, entry] of this.#pending) {
      this.#forget(id, entry);
      entry.handlers.lost("Connection closed");
    }
    this.setState("closed");
  }

  #connect(): void {
    if (this.#closed) return;
    this.#retryTimer = undefined;
    let ws: WebSocket;
    try {
      ws = new this.#Ctor(this.#url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#attempt = 0;
      this.setState("open");
      this.#flush();
      this.#startPing();
      for (const waiter of this.#waiting.splice(0)) waiter.resolve(ws);
    };
    ws.onmessage = (event: MessageEvent) => {
      if (this.#ws !== ws || typeof event.data !== "string") return;
      this.#receive(event.data);
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#stopPing();
      this.#failUpload("Connection lost during the upload");
      this.#suspendSent();
      this.#scheduleRetry();
    };
  }

  #scheduleRetry(): void {
    if (this.#closed) return;
    this.setState("reconnecting");
    const delay = backoffDelay(this.#attempt++, this.#backoff);
    this.#retryTimer = this.#timers.setTimeout(() => this.#connect(), delay);
  }

  #receive(text: string): void {
    const decoded = decodeFrame(text);
    if (!decoded.ok) {
      console.warn(decoded.message);
      return;
    }
    const frame = decoded.frame;
    if (frame.type === "pong") return;
    if (frame.type === "uploaded") {
      const upload = this.#upload;
      if (upload?.id !== frame.upload_id) return;
      this.#upload = undefined;
      upload.resolve(frame);
      return;
    }
    let id = frame.request_id;
    if (id === undefined) {
      // An error without a request id concerns the upload in flight or the
      // one running answer.
      const sent = [...this.#pending].filter(([, p]) => p.unsent === undefined);
      const upload = this.#upload;
      if (
        frame.type === "error" && upload && (UPLOAD_CODES.has(frame.code) || sent.length === 0)
      ) {
        this.#upload = undefined;
        upload.reject(new UploadFailed(frame.code, frame.message));
        return;
      }
      if (sent.length !== 1) {
        console.warn(
          `Server error: ${frame.type === "error" ? frame.message : ""}`,
        );
        return;
      }
      id = sent[0][0];
    }
    const entry = this.#pending.get(id);
    if (!entry) return;
    const seq = seqOf(frame);
    if (seq !== undefined) {
      // Already delivered (a resume that overlaps): drop it.
      if (seq <= entry.lastSeq) return;
      entry.lastSeq = seq;
    }
    if (isFinal(frame)) this.#forget(id, entry);
    if (frame.type === "error" && frame.code === ErrorCode.NotFound && entry.resumed) {
      entry.handlers.lost(INTERRUPTED_MESSAGE);
      return;
    }
    entry.handlers.frame(frame);
  }

  #flush(): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== 1) return;
    for (const [id, entry] of this.#pending) {
      if (!entry.resume) continue;
      ws.send(JSON.stringify({ type: "resume", request_id: id, last_seq: entry.lastSeq }));
      entry.resume = false;
      entry.resumed = true;
      this.#timers.clearTimeout(entry.deadline);
      entry.deadline = undefined;
    }
    for (const frame of this.#outbox.splice(0)) ws.send(frame);
    for (const entry of this.#pending.values()) {
      if (entry.unsent === undefined) continue;
      ws.send(entry.unsent);
      entry.unsent = undefined;
    }
  }

  #send(text: string): void {
    const ws = this.#ws;
    if (ws && ws.readyState === 1) ws.send(text);
  }

  #forget(id: string, entry: Pending): void {
    this.#pending.delete(id);
    if (entry.deadline !== undefined) this.#timers.clearTimeout(entry.deadline);
    entry.deadline = undefined;
  }

  /**
   * The socket dropped: every answer whose query reached the server waits
   * for the next socket to resume it, or ends as lost after the timeout.
   */
  #suspendSent(): void {
    for (const [id, entry] of this.#pending) {
      if (entry.unsent !== undefined || entry.resume) continue;
      entry.resume = true;
      entry.deadline = this.#timers.setTimeout(() => {
        if (this.#pending.get(id) !== entry || !entry.resume) return;
        this.#forget(id, entry);
        entry.handlers.lost(LOST_MESSAGE);
      }, this.#resumeMs);
    }
  }

  #startPing(): void {
    if (this.#pingMs <= 0) return;
    this.#pingTimer = this.#timers.setTimeout(() => {
      if (this.#pending.size === 0) {
        this.#send(JSON.stringify({ type: "ping", id: ++this.#pingId }));
      }
      this.#startPing();
    }, this.#pingMs);
  }

  #stopPing(): void {
    if (this.#pingTimer !== undefined) {
      this.#timers.clearTimeout(this.#pingTimer);
    }
    this.#pingTimer = undefined;
  }
}

/** Options for {@link SseTransport}. */
export interface SseTransportOptions {
  /** The origin to talk to, e.g. `http://host:8000`. */
  baseUrl: string;
  /** The EventSource constructor; default `globalThis.EventSource`. */
  EventSource?: new (url: string) => EventSource;
  /** Used to probe the server after a drop; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  backoff?: BackoffOptions;
  timers?: Timers;
  /**
   * How long a stream that dropped mid-answer may take to come back (the
   * browser reconnects by itself) before the answer ends as lost, in ms.
   * Default 20 000.
   */
  resumeTimeoutMs?: number;
}

/**
 * An SSE transport: one `EventSource` per answer (`GET /agent_chat_stream`).
 *
 * SSE cannot carry a `cancel`, so cancelling closes the stream (the server
 * stops the agent when the client goes away) and ends the answer locally.
 * When the stream drops mid-answer, the browser's own reconnect sends
 * `Last-Event-ID` (`<request_id>:<seq>`) and the server sends the rest of
 * the answer; the stream is closed on `done`/`error` (and on a drop before
 * the first event), so the browser never asks the same question again.
 * After a drop it cannot recover from, it probes `/healthz` with backoff and
 * reports `reconnecting` until the server answers.
 */
export class SseTransport extends BaseTransport implements ChatTransport {
  /** Always `"sse"`. */
  readonly kind = "sse" as const;
  /** SSE has no upload channel. */
  readonly canUpload = false;
  #base: string;
  #Ctor: new (url: string) => EventSource;
  #fetch: typeof fetch;
  #backoff: BackoffOptions;
  #timers: Timers;
  #resumeMs: number;
  #open = new Set<EventSource>();
  #attempt = 0;
  #probeTimer: unknown;
  #closed = false;

  /** Creates the transport; nothing connects until the first question. */
  constructor(options: SseTransportOptions) {
    super("idle");
    this.#base = options.baseUrl.replace(/\/$/, "");
    this.#Ctor = options.EventSource ?? globalThis.EventSource;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#backoff = options.backoff ?? {};
    this.#timers = options.timers ?? defaultTimers;
    this.#resumeMs = options.resumeTimeoutMs ?? RESUME_TIMEOUT_MS;
  }

  upload(): Promise<Uploaded> {
    return Promise.reject(
      new UploadFailed(ErrorCode.Unsupported, "Attaching files needs the WebSocket transport"),
    );
  }

  ask(ask: Ask, handlers: AnswerHandlers): AnswerHandle {
    const params = new URLSearchParams({ query: ask.query });
    if (ask.sessionId) params.set("session_id", ask.sessionId);
    const source = new this.#Ctor(`${this.#base}${SSE_PATH}?${params}`);
    this.#open.add(source);
    if (this.state !== "reconnecting") this.setState("connecting");
    let ended = false;
    let seq = -1;
    let resumed = false;
    let deadline: unknown;
    const waited = () => {
      if (deadline !== undefined) this.#timers.clearTimeout(deadline);
      deadline = undefined;
    };
    const end = () => {
      ended = true;
      waited();
      source.close();
      this.#open.delete(source);
      if (
        this.#open.size === 0 && this.state !== "reconnecting" && !this.#closed
      ) {
        this.setState("idle");
      }
    };
    const back = () => {
      waited();
      if (this.#probeTimer === undefined) this.setState("open");
    };
    source.onopen = () => {
      if (!ended) back();
    };
    source.onmessage = (event: MessageEvent) => {
      if (ended) return;
      const decoded = decodeFrame(String(event.data));
      if (!decoded.ok) {
        console.warn(decoded.message);
        return;
      }
      const frame = decoded.frame;
      if (frame.type === "pong" || frame.type === "uploaded") return;
      const s = seqOf(frame);
      if (s !== undefined) {
        // Already delivered (the resumed stream overlaps): drop it.
        if (s <= seq) return;
        seq = s;
      }
      if (this.state === "reconnecting") back();
      if (isFinal(frame)) end();
      this.#attempt = 0;
      if (frame.type === "error" && frame.code === ErrorCode.NotFound && resumed) {
        handlers.lost(INTERRUPTED_MESSAGE);
        return;
      }
      handlers.frame(frame);
    };
    source.onerror = () => {
      if (ended) return;
      if (source.readyState !== 2 && seq >= 0) {
        // The browser reconnects by itself with Last-Event-ID; the server
        // resumes the answer after the last event we saw.
        resumed = true;
        this.setState("reconnecting");
        deadline ??= this.#timers.setTimeout(() => {
          deadline = undefined;
          if (ended) return;
          end();
          handlers.lost(LOST_MESSAGE);
          this.#probe();
        }, this.#resumeMs);
        return;
      }
      // Closed for good, or dropped before the first event (a reconnect
      // without Last-Event-ID would ask the question again).
      end();
      handlers.lost(LOST_MESSAGE);
      this.#probe();
    };
    return {
      requestId: ask.requestId,
      cancel: () => {
        if (ended) return;
        end();
        if (this.state === "reconnecting" && this.#probeTimer === undefined) {
          this.setState(this.#open.size > 0 ? "open" : "idle");
        }
        handlers.frame({
          type: "done",
          finish_reason: "cancelled",
          cancelled: true,
          request_id: ask.requestId,
          seq: seq + 1,
        });
      },
    };
  }

  close(): void {
    this.#closed = true;
    if (this.#probeTimer !== undefined) {
      this.#timers.clearTimeout(this.#probeTimer);
    }
    for (const source of this.#open) source.close();
    this.#open.clear();
    this.setState("closed");
  }

  #probe(): void {
    if (this.#closed || this.#probeTimer !== undefined) return;
    this.setState("reconnecting");
    const delay = backoffDelay(this.#attempt++, this.#backoff);
    this.#probeTimer = this.#timers.setTimeout(async () => {
      let ok = false;
      try {
        const res = await this.#fetch(`${this.#base}/healthz`, {
          cache: "no-store",
        });
        await res.body?.cancel();
        ok = res.ok;
      } catch {
        ok = false;
      }
      this.#probeTimer = undefined;
      if (this.#closed) return;
      if (ok) {
        this.#attempt = 0;
        this.setState(this.#open.size > 0 ? "open" : "idle");
      } else {
        this.#probe();
      }
    }, delay);
  }
}

/** Options for {@link createTransport}. */
export interface CreateTransportOptions {
  /** The page's origin, e.g. `location.origin`. */
  origin: string;
}

/** Creates the transport of the given kind for a page at `origin`. */
export function createTransport(
  kind: TransportKind,
  options: CreateTransportOptions,
): ChatTransport {
  if (kind === "sse") return new SseTransport({ baseUrl: options.origin });
  return new WsTransport({
    url: options.origin.replace(/^http/, "ws") + WS_PATH,
  });
}
