/**
 * The client transport: the only code in the browser that touches the wire.
 *
 * {@link WsTransport} keeps one WebSocket for many turns and reconnects after
 * a drop with exponential backoff and full jitter; {@link SseTransport} opens
 * one `EventSource` per answer. Both decode frames with {@link decodeFrame}
 * and report a {@link ConnectionState}; the UI only calls
 * {@link ChatTransport.ask}, cancels through the returned handle and listens.
 * @module
 */
import { SSE_PATH, WS_PATH } from "../protocol/codes.ts";
import type { ServerFrame } from "../protocol/frames.ts";
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
}

interface Pending {
  handlers: AnswerHandlers;
  /** The query frame, until it is on the wire. */
  unsent?: string;
}

/**
 * A WebSocket transport: one socket for many turns, reconnecting after a drop.
 *
 * A query asked while the socket is down is sent once it opens; an answer
 * whose query was already sent when the socket dropped ends with
 * {@link AnswerHandlers.lost} (a question is never re-sent on its own).
 */
export class WsTransport extends BaseTransport implements ChatTransport {
  /** Always `"ws"`. */
  readonly kind = "ws" as const;
  #url: string;
  #Ctor: new (url: string) => WebSocket;
  #backoff: BackoffOptions;
  #timers: Timers;
  #pingMs: number;
  #ws: WebSocket | undefined;
  #attempt = 0;
  #retryTimer: unknown;
  #pingTimer: unknown;
  #pingId = 0;
  #pending = new Map<string, Pending>();
  #closed = false;

  /** Creates the transport and starts connecting. */
  constructor(options: WsTransportOptions) {
    super("connecting");
    this.#url = options.url;
    this.#Ctor = options.WebSocket ?? globalThis.WebSocket;
    this.#backoff = options.backoff ?? {};
    this.#timers = options.timers ?? defaultTimers;
    this.#pingMs = options.pingIntervalMs ?? 25_000;
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
    });
    const pending: Pending = { handlers, unsent: frame };
    this.#pending.set(ask.requestId, pending);
    this.#flush();
    return {
      requestId: ask.requestId,
      cancel: () => {
        const entry = this.#pending.get(ask.requestId);
        if (!entry) return;
        if (entry.unsent !== undefined) {
          // Never reached the server: end it here.
          this.#pending.delete(ask.requestId);
          entry.handlers.frame({
            type: "done",
            finish_reason: "cancelled",
            cancelled: true,
            request_id: ask.requestId,
            seq: 0,
          });
          return;
        }
        this.#send(
          JSON.stringify({ type: "cancel", request_id: ask.requestId }),
        );
      },
    };
  }

  close(): void {
    this.#closed = true;
    this.#timers.clearTimeout(this.#retryTimer);
    this.#stopPing();
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close(1000, "Closed by the page");
    this.#failSent("Connection closed");
    for (const [id, entry] of this.#pending) {
      this.#pending.delete(id);
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
    };
    ws.onmessage = (event: MessageEvent) => {
      if (this.#ws !== ws || typeof event.data !== "string") return;
      this.#receive(event.data);
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#stopPing();
      this.#failSent(LOST_MESSAGE);
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
    if (frame.type === "pong" || frame.type === "uploaded") return;
    let id = frame.request_id;
    if (id === undefined) {
      // An error without a request id concerns the one running answer.
      const sent = [...this.#pending].filter(([, p]) => p.unsent === undefined);
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
    if (frame.type === "done" || frame.type === "error") {
      this.#pending.delete(id);
    }
    entry.handlers.frame(frame);
  }

  #flush(): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== 1) return;
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

  /** Ends every answer whose query reached the server. */
  #failSent(message: string): void {
    for (const [id, entry] of this.#pending) {
      if (entry.unsent !== undefined) continue;
      this.#pending.delete(id);
      entry.handlers.lost(message);
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
}

/**
 * An SSE transport: one `EventSource` per answer (`GET /agent_chat_stream`).
 *
 * SSE cannot carry a `cancel`, so cancelling closes the stream (the server
 * stops the agent when the client goes away) and ends the answer locally.
 * After a drop it probes `/healthz` with backoff and reports `reconnecting`
 * until the server answers; the browser's own auto-reconnect is never used,
 * because it would ask the same question again.
 */
export class SseTransport extends BaseTransport implements ChatTransport {
  /** Always `"sse"`. */
  readonly kind = "sse" as const;
  #base: string;
  #Ctor: new (url: string) => EventSource;
  #fetch: typeof fetch;
  #backoff: BackoffOptions;
  #timers: Timers;
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
  }

  ask(ask: Ask, handlers: AnswerHandlers): AnswerHandle {
    const params = new URLSearchParams({ query: ask.query });
    if (ask.sessionId) params.set("session_id", ask.sessionId);
    const source = new this.#Ctor(`${this.#base}${SSE_PATH}?${params}`);
    this.#open.add(source);
    if (this.state !== "reconnecting") this.setState("connecting");
    let ended = false;
    let seq = 0;
    const end = () => {
      ended = true;
      source.close();
      this.#open.delete(source);
      if (
        this.#open.size === 0 && this.state !== "reconnecting" && !this.#closed
      ) {
        this.setState("idle");
      }
    };
    source.onopen = () => {
      if (!ended) this.setState("open");
    };
    source.onmessage = (event: MessageEvent) => {
      if (ended) return;
      const decoded = decodeFrame(String(event.data));
      if (!decoded.ok) {
        console.warn(decoded.message);
        return;
      }
      const frame = decoded.frame;
      if (frame.type === "pong") return;
      if ("seq" in frame && typeof frame.seq === "number") seq = frame.seq;
      if (frame.type === "done" || frame.type === "error") end();
      this.#attempt = 0;
      handlers.frame(frame);
    };
    source.onerror = () => {
      if (ended) return;
      end();
      handlers.lost(LOST_MESSAGE);
      this.#probe();
    };
    return {
      requestId: ask.requestId,
      cancel: () => {
        if (ended) return;
        end();
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
