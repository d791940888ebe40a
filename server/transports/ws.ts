/**
 * `/ws/chat`: one {@link WsConnection} per socket, speaking the native
 * (seed) dialect and the AI SDK `WebSocketChatTransport` dialect.
 *
 * One answer at a time per socket: a query that arrives while an answer
 * streams gets a `busy` error and the running answer goes on.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import { ErrorCode, MAX_QUERY_LENGTH } from "../../protocol/codes.ts";
import {
  type AiSdkServerFrame,
  type ClientFrame,
  decodeClientFrame,
  type SendFrame,
  type ServerFrame,
} from "../../protocol/frames.ts";
import type { ChatCore } from "../core.ts";
import { type FrameEncoder, NativeEncoder, UiChunkEncoder } from "../encode.ts";
import type { Config } from "../config.ts";

/** The answer streaming on a socket. */
interface ActiveTurn {
  requestId: string;
  controller: AbortController;
}

/** State and message handling of one WebSocket. */
export class WsConnection {
  #core: ChatCore;
  #config: Config;
  #ws: WSContext;
  #active: ActiveTurn | undefined;
  #closed = false;
  #send = (frame: string) => {
    if (!this.#closed) this.#ws.send(frame);
  };

  /** Wraps an open socket. */
  constructor(core: ChatCore, config: Config, ws: WSContext) {
    this.#core = core;
    this.#config = config;
    this.#ws = ws;
  }

  /** The socket closed: abort the running answer. */
  close(): void {
    this.#closed = true;
    this.#active?.controller.abort();
  }

  /** Handles one inbound message. Never throws. */
  receive(data: unknown): void {
    if (typeof data !== "string") {
      this.#error(
        ErrorCode.BinaryUnsupported,
        "Cannot accept binary frames: file upload is not supported",
      );
      return;
    }
    if (data.length > this.#config.MAX_FRAME_BYTES) {
      this.#ws.close(
        1009,
        `Frame too large: limit is ${this.#config.MAX_FRAME_BYTES} bytes`,
      );
      this.close();
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
    const turn: ActiveTurn = { requestId, controller };
    this.#active = turn;
    const send = this.#send;
    this.#core
      .run({ ...request, requestId }, {
        signal: controller.signal,
        emit: (event) => encoder.write(event, send),
      })
      .finally(() => {
        if (this.#active === turn) this.#active = undefined;
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

/** The `/ws/chat` upgrade handler. */
export function wsHandler(
  core: ChatCore,
  deps: { config: Config; upgradeWebSocket: UpgradeWebSocket },
): MiddlewareHandler {
  return deps.upgradeWebSocket(() => {
    let connection: WsConnection | undefined;
    const get = (
      ws: WSContext,
    ) => (connection ??= new WsConnection(core, deps.config, ws));
    return {
      onOpen: (_event, ws) => void get(ws),
      onMessage: (event, ws) => get(ws).receive(event.data),
      onClose: () => connection?.close(),
      onError: () => connection?.close(),
    };
  });
}
