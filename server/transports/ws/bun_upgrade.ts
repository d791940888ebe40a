/**
 * The WebSocket upgrade on Bun: `upgradeWebSocket` (the contract of
 * `hono/bun`'s) and the {@link websocket} handler object `Bun.serve` takes.
 * Unlike `hono/bun`, each socket has one `WSContext` for its whole life
 * (Hono's makes one, with a parsed URL, per event), its state is read live
 * (Hono's is a copy taken when the context was made), a handler that
 * throws closes the socket 1011 after `onError`, the `Upgrade` header
 * is read as a case-insensitive token list (RFC 9110 section 7.8),
 * control-frame pings are reported ({@link controlPingReceived}) and a
 * message is handed over without making a DOM `MessageEvent`.
 * @module
 */
import {
  defineWebSocketHelper,
  WSContext,
  type WSContextInit,
  type WSEvents,
  type WSMessageReceive,
  type WSReadyState,
} from "hono/ws";
import { CloseCode } from "../../../protocol/codes.ts";
import { controlPingReceived, isWebSocketUpgrade } from "./mod.ts";

/** The parts of Bun's `ServerWebSocket` used here. */
export interface BunWebSocket {
  /** What `server.upgrade` was given: the socket's {@link BunSocket}. */
  readonly data: BunSocket;
  readonly readyState: number;
  send(data: string | ArrayBuffer | Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
}

/** One of the app's event handlers. */
type Handler = (event: Event, ws: WSContext<BunWebSocket>) => unknown;

/** The part of Bun's `Server` used here (`c.env` of a request `Bun.serve` hands to Hono). */
interface BunServer {
  upgrade(request: Request, options: { data: BunSocket }): boolean;
}

/**
 * One upgraded socket: the app's handlers and, once open, the runtime's
 * socket and the one `WSContext` the handlers get for every event.
 */
export class BunSocket implements WSContextInit<BunWebSocket> {
  raw: BunWebSocket | undefined;
  readonly url: string;
  readonly protocol: string;
  #events: WSEvents<BunWebSocket>;
  #ws: WSContext<BunWebSocket> | undefined;

  constructor(events: WSEvents<BunWebSocket>, url: string, protocol: string) {
    this.#events = events;
    this.url = url;
    this.protocol = protocol;
  }

  get readyState(): WSReadyState {
    return (this.raw?.readyState ?? 0) as WSReadyState;
  }

  send(source: string | ArrayBuffer | Uint8Array<ArrayBuffer>, options?: { compress?: boolean }) {
    this.raw?.send(source, options?.compress);
  }

  close(code?: number, reason?: string): void {
    this.raw?.close(code, reason);
  }

  /** The socket opened: from now on its events reach the handlers. */
  opened(raw: BunWebSocket): void {
    this.raw = raw;
    this.#ws = new WSContext(this);
    if (this.#events.onOpen) this.#run("onOpen", new Event("open"));
  }

  /** A message arrived (binary ones as an `ArrayBuffer` of exactly their bytes). */
  received(message: string | Uint8Array): void {
    if (!this.#events.onMessage) return;
    const data: WSMessageReceive = typeof message === "string" ? message : exactBuffer(message);
    this.#run("onMessage", messageEvent(data));
  }

  /** The socket closed. */
  closed(code: number, reason: string): void {
    if (this.#events.onClose) this.#run("onClose", new CloseEvent("close", { code, reason }));
  }

  /**
   * Calls a handler (as a method of the app's events); what it throws (or
   * rejects with) goes to {@link #failed}.
   */
  #run<K extends "onOpen" | "onMessage" | "onClose">(
    type: K,
    event: Parameters<NonNullable<WSEvents<BunWebSocket>[K]>>[0],
  ): void {
    try {
      const result: unknown = (this.#events[type] as Handler)!.call(this.#events, event, this.#ws!);
      if (result instanceof Promise) result.catch((error) => this.#failed(error));
    } catch (error) {
      this.#failed(error);
    }
  }

  /** A handler failed: `onError` is told, and the socket closes 1011 (a fault is never silent). */
  #failed(error: unknown): void {
    try {
      this.#events.onError?.call(this.#events, new ErrorEvent("error", { error }), this.#ws!);
    } finally {
      if (this.raw?.readyState === WebSocket.OPEN) {
        this.raw.close(CloseCode.InternalError, "Internal error");
      }
    }
  }
}

/**
 * The event `onMessage` gets: the `type` and `data` of a `MessageEvent`,
 * all the app's handlers read. Not a DOM `MessageEvent`: Bun takes ~20 µs
 * to make one after an idle spell (a plain object: under 1 µs), and every
 * query waits for it before its first chunk.
 */
function messageEvent(data: WSMessageReceive): MessageEvent<WSMessageReceive> {
  return { type: "message", data } as MessageEvent<WSMessageReceive>;
}

/** The bytes of a binary message as an `ArrayBuffer` (a copy only when they are part of a larger one). */
function exactBuffer(bytes: Uint8Array): ArrayBuffer {
  const { buffer, byteOffset, byteLength } = bytes;
  if (byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) {
    return buffer;
  }
  return bytes.slice().buffer as ArrayBuffer;
}

/** `upgradeWebSocket` for Bun (same contract as `hono/bun`'s); needs {@link websocket} in `Bun.serve`. */
export const upgradeWebSocket = defineWebSocketHelper<BunWebSocket>((c, events) => {
  if (!isWebSocketUpgrade(c.req.header("upgrade"))) return;
  const env = c.env as BunServer | { server: BunServer } | undefined;
  const server = env && "server" in env ? env.server : env;
  if (typeof server?.upgrade !== "function") {
    throw new TypeError("Cannot upgrade WebSocket: the Bun server is not the request's env");
  }
  const protocol = c.req.header("sec-websocket-protocol")?.split(",")[0]?.trim() ?? "";
  const socket = new BunSocket(events, c.req.url, protocol);
  if (server.upgrade(c.req.raw, { data: socket })) return new Response(null);
});

/**
 * The `websocket` handler object of `Bun.serve`: hands each event to its
 * socket's {@link BunSocket}; a control-frame ping counts against the
 * socket's message rate limit.
 */
export const websocket = {
  open(ws: BunWebSocket): void {
    ws.data.opened(ws);
  },
  message(ws: BunWebSocket, message: string | Uint8Array): void {
    ws.data.received(message);
  },
  close(ws: BunWebSocket, code: number, reason: string): void {
    ws.data.closed(code, reason);
  },
  ping(ws: BunWebSocket): void {
    controlPingReceived(ws);
  },
};
