/**
 * `/ws/chat`: one {@link WsConnection} per socket, speaking the native
 * (seed) dialect and the AI SDK `WebSocketChatTransport` dialect.
 *
 * One answer at a time per socket: a query that arrives while an answer
 * streams gets a `busy` error and the running answer goes on.
 *
 * Hardening: a per-socket message rate limit (error `rate_limited`, close
 * 4029), the frame size limit (close 1009), backpressure on
 * `bufferedAmount` (the agent pauses above `WS_HIGH_WATER_BYTES`; a socket
 * stalled past `STALL_TIMEOUT_MS` closes 4008), WebSocket ping/pong idle
 * timeout (`WS_IDLE_TIMEOUT_S`) and graceful drain (close 1012).
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import { CloseCode, ErrorCode, MAX_QUERY_LENGTH } from "../../protocol/codes.ts";
import {
  type AiSdkServerFrame,
  type ClientFrame,
  decodeClientFrame,
  type SendFrame,
  type ServerFrame,
} from "../../protocol/frames.ts";
import type { ConnectionRegistry, Drainable } from "../connections.ts";
import { type ChatCore, type CoreEvent, TurnStop } from "../core.ts";
import type { GuardEnv, Lease, Rejection } from "../guards/env.ts";
import { type FrameEncoder, NativeEncoder, UiChunkEncoder } from "../encode.ts";
import type { Config } from "../config.ts";

/** The answer streaming on a socket. */
interface ActiveTurn {
  requestId: string;
  controller: AbortController;
  /** Settles when the core finished the turn (persisted, final frame sent). */
  done: Promise<void>;
}

/** How often a paused answer checks whether the socket drained. */
const DRAIN_POLL_MS = 10;

/** Options of {@link WsConnection}. */
export interface WsConnectionOptions {
  /** The authenticated identity, when authentication is on. */
  identity?: string;
}

/** Reads how many bytes a socket has queued but not yet written. */
function bufferedReader(ws: WSContext): () => number {
  const raw = ws.raw as { bufferedAmount?: number; getBufferedAmount?: () => number } | undefined;
  if (raw && typeof raw.bufferedAmount === "number") return () => raw.bufferedAmount!;
  if (raw && typeof raw.getBufferedAmount === "function") return () => raw.getBufferedAmount!();
  return () => 0;
}

/** State and message handling of one WebSocket. */
export class WsConnection implements Drainable {
  #core: ChatCore;
  #config: Config;
  #ws: WSContext;
  #identity: string | undefined;
  #active: ActiveTurn | undefined;
  #closed = false;
  #gone = Promise.withResolvers<void>();
  #buffered: () => number;
  #windowStart = 0;
  #windowCount = 0;
  #send = (frame: string) => {
    if (this.#closed) return;
    try {
      this.#ws.send(frame);
    } catch {
      // The socket closed under us; its close event aborts the turn.
      this.#closed = true;
    }
  };

  /** Wraps an open socket. */
  constructor(core: ChatCore, config: Config, ws: WSContext, options: WsConnectionOptions = {}) {
    this.#core = core;
    this.#config = config;
    this.#ws = ws;
    this.#identity = options.identity;
    this.#buffered = bufferedReader(ws);
  }

  /** The socket closed: abort the running answer. */
  close(): void {
    this.#closed = true;
    this.#active?.controller.abort();
    this.#gone.resolve();
  }

  /** Closes the socket with `code` and aborts the running answer with `reason`. */
  #shut(code: number, message: string, stop?: TurnStop): void {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#ws.close(code, message);
      } catch {
        // Already closing.
      }
    }
    this.#active?.controller.abort(stop);
  }

  /**
   * Graceful shutdown: end the turn (persisted), close 1012 and wait for
   * the closing handshake, so the listener's shutdown does not cut it.
   */
  async drain(): Promise<void> {
    const active = this.#active;
    if (active) {
      active.controller.abort(
        new TurnStop(ErrorCode.ShuttingDown, "The server is restarting; reconnect shortly"),
      );
      await active.done;
    }
    this.#shut(CloseCode.ServiceRestart, "Server restarting");
    await this.#gone.promise;
  }

  /** Closes 1012 at once (the drain timed out). */
  terminate(): void {
    this.#shut(CloseCode.ServiceRestart, "Server restarting");
  }

  /** Tells the client it is over a limit, then closes 4029. */
  reject(rejection: Rejection): void {
    this.#send(
      JSON.stringify(
        {
          type: "error",
          code: ErrorCode.RateLimited,
          message: rejection.message,
          retry_after: rejection.retryAfter,
        } satisfies ServerFrame,
      ),
    );
    this.#shut(CloseCode.RateLimited, truncateReason(rejection.message));
  }

  /** Counts a message against the per-minute limit; false when over it. */
  #allow(): boolean {
    const limit = this.#config.RATE_LIMIT_PER_MINUTE;
    if (limit === 0) return true;
    const now = Date.now();
    if (now - this.#windowStart >= 60_000) {
      this.#windowStart = now;
      this.#windowCount = 0;
    }
    if (++this.#windowCount <= limit) return true;
    this.reject({
      retryAfter: Math.max(1, Math.ceil((this.#windowStart + 60_000 - now) / 1000)),
      message: `Rate limit exceeded: at most ${limit} messages per minute per connection`,
    });
    return false;
  }

  /** Handles one inbound message. Never throws. */
  receive(data: unknown): void {
    if (this.#closed || !this.#allow()) return;
    if (typeof data !== "string") {
      this.#error(
        ErrorCode.BinaryUnsupported,
        "Cannot accept binary frames: file upload is not supported",
      );
      return;
    }
    if (data.length > this.#config.MAX_FRAME_BYTES) {
      this.#shut(
        CloseCode.MessageTooBig,
        `Frame too large: limit is ${this.#config.MAX_FRAME_BYTES} bytes`,
      );
      return;
    }
    const decoded = decodeClientFrame(data);
    if (!decoded.ok) {
      if (decoded.aiSdk && decoded.requestId !== undefined) {
        this.#aiSdkError(decoded.requestId, decoded.code, decoded.message);
      } else {
        this.#error(decoded.code, decoded.message, decoded.requestId);
      }
      return;
    }
    this.#dispatch(decoded.frame);
  }

  #dispatch(frame: ClientFrame): void {
    switch (frame.type) {
      case undefined:
      case "query":
        if (this.#rejectIfBusy(frame.request_id, false)) return;
        this.#start(
          {
            query: frame.query,
            sessionId: frame.session_id,
            requestId: frame.request_id,
          },
          new NativeEncoder(),
        );
        return;
      case "cancel":
        if (
          this.#active &&
          (frame.request_id ?? this.#active.requestId) ===
            this.#active.requestId
        ) {
          this.#active.controller.abort();
        } else {
          this.#error(
            ErrorCode.NotFound,
            `Cannot cancel: no running answer${
              frame.request_id ? ` with request_id "${frame.request_id}"` : ""
            }`,
            frame.request_id,
          );
        }
        return;
      case "ping":
        this.#send(
          JSON.stringify({ type: "pong", id: frame.id } satisfies ServerFrame),
        );
        return;
      case "send":
        this.#aiSdkSend(frame);
        return;
      case "resume":
        this.#send(
          JSON.stringify(
            {
              type: "no-active",
              requestId: frame.requestId,
            } satisfies AiSdkServerFrame,
          ),
        );
        return;
      case "abort":
        if (this.#active?.requestId === frame.requestId) {
          this.#active.controller.abort();
        }
        return;
    }
  }

  #aiSdkSend(frame: SendFrame): void {
    if (frame.trigger !== "submit-message") {
      this.#aiSdkError(
        frame.requestId,
        ErrorCode.Unsupported,
        `Cannot ${frame.trigger}: only "submit-message" is supported`,
      );
      return;
    }
    const last = frame.messages.at(-1);
    const query = last?.role === "user"
      ? last.parts.map((part) =>
        part.type === "text" && typeof part.text === "string" ? part.text : ""
      ).join("").trim()
      : "";
    if (!query) {
      this.#aiSdkError(
        frame.requestId,
        ErrorCode.EmptyQuery,
        "Cannot answer: the last message must be a user message with text",
      );
      return;
    }
    if (query.length > MAX_QUERY_LENGTH) {
      this.#aiSdkError(
        frame.requestId,
        ErrorCode.QueryTooLong,
        `Cannot answer: the question is longer than ${MAX_QUERY_LENGTH} characters`,
      );
      return;
    }
    if (this.#rejectIfBusy(frame.requestId, true)) return;
    this.#start(
      { query, sessionId: frame.id, requestId: frame.requestId },
      new UiChunkEncoder(frame.requestId),
    );
  }

  #rejectIfBusy(requestId: string | undefined, aiSdk: boolean): boolean {
    if (!this.#active) return false;
    const message =
      `Cannot start: answer "${this.#active.requestId}" is still streaming on this socket; cancel it or wait for "done"`;
    if (aiSdk && requestId) {
      this.#aiSdkError(requestId, ErrorCode.Busy, message);
    } else this.#error(ErrorCode.Busy, message, requestId);
    return true;
  }

  #start(
    request: { query: string; sessionId?: string; requestId?: string },
    encoder: FrameEncoder,
  ): void {
    const controller = new AbortController();
    const requestId = request.requestId ?? crypto.randomUUID();
    const send = this.#send;
    const high = this.#config.WS_HIGH_WATER_BYTES;
    const buffered = this.#buffered;
    const emit = (event: CoreEvent): void | Promise<void> => {
      encoder.write(event, send);
      if (buffered() > high) return this.#drained();
    };
    const done = this.#core
      .run({ ...request, requestId }, {
        signal: controller.signal,
        emit,
        identity: this.#identity,
      })
      .finally(() => {
        if (this.#active === turn) this.#active = undefined;
      });
    const turn: ActiveTurn = { requestId, controller, done };
    this.#active = turn;
  }

  /**
   * Resolves once the socket's buffer fell to half the high-water mark, or
   * closes it 4008 when it stays stalled past `STALL_TIMEOUT_MS`.
   */
  #drained(): Promise<void> {
    const low = this.#config.WS_HIGH_WATER_BYTES / 2;
    const deadline = Date.now() + this.#config.STALL_TIMEOUT_MS;
    return new Promise<void>((resolve) => {
      const check = () => {
        if (this.#closed || this.#buffered() <= low) return resolve();
        if (Date.now() >= deadline) {
          this.#shut(
            CloseCode.SlowConsumer,
            `Slow consumer: not reading for ${this.#config.STALL_TIMEOUT_MS} ms`,
            new TurnStop(ErrorCode.Timeout, "The client stopped reading"),
          );
          return resolve();
        }
        setTimeout(check, DRAIN_POLL_MS);
      };
      setTimeout(check, DRAIN_POLL_MS);
    });
  }

  #error(code: ErrorCode, message: string, requestId?: string): void {
    this.#send(
      JSON.stringify(
        {
          type: "error",
          code,
          message,
          request_id: requestId,
        } satisfies ServerFrame,
      ),
    );
  }

  #aiSdkError(requestId: string, code: ErrorCode, message: string): void {
    this.#send(
      JSON.stringify(
        {
          type: "error",
          requestId,
          errorText: message,
          code,
        } satisfies AiSdkServerFrame,
      ),
    );
  }
}

/** Close reasons must fit in 123 bytes. */
function truncateReason(reason: string): string {
  return reason.length <= 120 ? reason : reason.slice(0, 117) + "...";
}

/** The `/ws/chat` upgrade handler. */
export function wsHandler(
  core: ChatCore,
  deps: {
    config: Config;
    upgradeWebSocket: UpgradeWebSocket;
    registry: ConnectionRegistry;
  },
): MiddlewareHandler<GuardEnv> {
  const options = { idleTimeout: deps.config.WS_IDLE_TIMEOUT_S };
  return deps.upgradeWebSocket((c) => {
    const identity = c.get("identity") as string | undefined;
    const rejection = c.get("rejection") as Rejection | undefined;
    const lease = c.get("lease") as Lease | undefined;
    if (c.req.header("upgrade") === "websocket") lease?.hold();
    let connection: WsConnection | undefined;
    let unregister: (() => void) | undefined;
    const get = (ws: WSContext) => {
      if (!connection) {
        connection = new WsConnection(core, deps.config, ws, { identity });
        unregister = deps.registry.add(connection);
      }
      return connection;
    };
    const end = () => {
      connection?.close();
      unregister?.();
      lease?.release();
    };
    return {
      onOpen: (_event, ws) => {
        const opened = get(ws);
        if (rejection) opened.reject(rejection);
      },
      onMessage: (event, ws) => get(ws).receive(event.data),
      onClose: end,
      onError: end,
    };
  }, options);
}
