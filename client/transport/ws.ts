/**
 * The WebSocket pipe: one socket for many turns, reconnected with backoff
 * after a drop, with application pings while idle. What happens to the
 * answers across a drop (resume, dedupe, cancel, deadline) is the shared
 * {@link Answers}' job; uploads are the {@link UploadQueue}'s.
 * @module
 */
import { decodeFrame } from "../codec.ts";
import { type Answer, type SessionOptions, TransportSession } from "./session.ts";
import {
  type AnswerHandle,
  type AnswerHandlers,
  type Ask,
  type ChatTransport,
  SocketState,
  type Uploaded,
  type UploadFile,
} from "./types.ts";
import { UploadFailed, UploadQueue } from "./uploads.ts";

/** Options for {@link WsTransport}. */
export interface WsTransportOptions extends SessionOptions {
  /** The WebSocket URL, e.g. `ws://host/ws/chat`. */
  url: string;
  /** The WebSocket constructor; default `globalThis.WebSocket`. */
  WebSocket?: new (url: string) => WebSocket;
  /** Application ping interval while idle, in ms; 0 disables. Default 25 000. */
  pingIntervalMs?: number;
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
export class WsTransport extends TransportSession implements ChatTransport {
  /** Always `"ws"`. */
  readonly kind = "ws" as const;
  /** Files go over the socket as binary frames. */
  readonly canUpload = true;
  #url: string;
  #Ctor: new (url: string) => WebSocket;
  #pingMs: number;
  #uploads = new UploadQueue(() => this.#whenOpen());
  #ws: WebSocket | undefined;
  #retryTimer: unknown;
  #pingTimer: unknown;
  #pingId = 0;
  /** Control frames (cancels) for the next socket. */
  #outbox: string[] = [];
  #waiting: { resolve(ws: WebSocket): void; reject(error: UploadFailed): void }[] = [];
  #closed = false;

  /** Creates the transport and starts connecting. */
  constructor(options: WsTransportOptions) {
    super("connecting", options);
    this.#url = options.url;
    this.#Ctor = options.WebSocket ?? globalThis.WebSocket;
    this.#pingMs = options.pingIntervalMs ?? 25_000;
    this.#connect();
  }

  ask(ask: Ask, handlers: AnswerHandlers): AnswerHandle {
    const query = JSON.stringify(
      ask.keepTurns === undefined
        ? {
          type: "query",
          query: ask.query,
          request_id: ask.requestId,
          ...(ask.sessionId ? { session_id: ask.sessionId } : {}),
          ...(ask.attachments?.length ? { attachments: ask.attachments } : {}),
        }
        : {
          type: "edit",
          query: ask.query,
          request_id: ask.requestId,
          session_id: ask.sessionId,
          turn: ask.keepTurns,
        },
    );
    const answer = this.answers.open(ask.requestId, handlers, { phase: "queued", query });
    this.#flush();
    return { requestId: ask.requestId, cancel: () => this.#cancel(answer) };
  }

  upload(file: UploadFile, options: { uploadId: string; sessionId: string }): Promise<Uploaded> {
    return this.#uploads.upload(file, options);
  }

  close(): void {
    this.#closed = true;
    this.timers.clearTimeout(this.#retryTimer);
    this.#stopPing();
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close(1000, "Closed by the page");
    this.#uploads.fail("Connection closed");
    for (const waiter of this.#waiting.splice(0)) {
      waiter.reject(new UploadFailed("connection_lost", "Connection closed"));
    }
    this.answers.loseAll("Connection closed");
    this.setState("closed");
  }

  #cancel(answer: Answer): void {
    if (this.answers.get(answer.requestId) !== answer) return;
    const cancel = JSON.stringify({ type: "cancel", request_id: answer.requestId });
    if (answer.phase === "queued" || answer.phase === "suspended") {
      // Not on the wire (never sent, or waiting for a new socket): end it
      // here; a dropped answer is still stopped on the server once we are back.
      if (answer.phase === "suspended") this.#outbox.push(cancel);
      this.answers.cancel(answer);
      return;
    }
    this.#send(cancel);
  }

  /** Resolves with the socket once it is open. */
  #whenOpen(): Promise<WebSocket> {
    const ws = this.#ws;
    if (ws && ws.readyState === SocketState.Open) return Promise.resolve(ws);
    if (this.#closed) {
      return Promise.reject(new UploadFailed("connection_lost", "Connection closed"));
    }
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #connect(): void {
    if (this.#closed) return;
    this.#retryTimer = undefined;
    if (!this.authorize) return this.#open(this.#url);
    // A fresh ticket for every socket; no ticket (server down, token refused): try again later.
    this.authorize(this.#url).then(
      (url) => this.#open(url),
      () => this.#scheduleRetry(),
    );
  }

  #open(url: string): void {
    if (this.#closed) return;
    let ws: WebSocket;
    try {
      ws = new this.#Ctor(url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.connected();
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
      this.#uploads.fail("Connection lost during the upload");
      // Every answer whose query reached the server waits for the next socket.
      for (const answer of this.answers.all()) {
        if (answer.phase !== "queued") this.answers.suspend(answer);
      }
      this.#scheduleRetry();
    };
  }

  #scheduleRetry(): void {
    if (this.#closed) return;
    this.setState("reconnecting");
    this.#retryTimer = this.timers.setTimeout(() => this.#connect(), this.nextDelay());
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
      this.#uploads.uploaded(frame);
      return;
    }
    let answer = frame.request_id === undefined ? undefined : this.answers.get(frame.request_id);
    if (frame.request_id === undefined) {
      // An error without a request id concerns the upload in flight or the
      // one running answer.
      const sent = this.answers.all().filter((a) => a.phase !== "queued");
      if (frame.type === "error" && this.#uploads.refused(frame, sent.length > 0)) return;
      if (sent.length !== 1) {
        console.warn(`Server error: ${frame.type === "error" ? frame.message : ""}`);
        return;
      }
      answer = sent[0];
    }
    if (answer) this.answers.deliver(answer, frame);
  }

  #flush(): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== SocketState.Open) return;
    for (const answer of this.answers.all()) {
      if (answer.phase !== "suspended") continue;
      ws.send(JSON.stringify({
        type: "resume",
        request_id: answer.requestId,
        last_seq: answer.seq.last,
      }));
      this.answers.resume(answer);
    }
    for (const frame of this.#outbox.splice(0)) ws.send(frame);
    for (const answer of this.answers.all()) {
      if (answer.phase !== "queued" || answer.query === undefined) continue;
      ws.send(answer.query);
      answer.query = undefined;
      answer.phase = "streaming";
    }
  }

  #send(text: string): void {
    const ws = this.#ws;
    if (ws && ws.readyState === SocketState.Open) ws.send(text);
  }

  #startPing(): void {
    if (this.#pingMs <= 0) return;
    this.#pingTimer = this.timers.setTimeout(() => {
      if (this.answers.size === 0) {
        this.#send(JSON.stringify({ type: "ping", id: ++this.#pingId }));
      }
      this.#startPing();
    }, this.#pingMs);
  }

  #stopPing(): void {
    if (this.#pingTimer !== undefined) this.timers.clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
  }
}
