/**
 * `/ws/chat`: the upgrade handler, one {@link WsConnection} per socket,
 * speaking the native (seed) dialect and the AI SDK
 * `WebSocketChatTransport` dialect.
 *
 * Hardening: a per-socket message rate limit (error `rate_limited`, close
 * 4029), the frame size limit (close 1009), backpressure on
 * `bufferedAmount` (the answer pauses above `WS_HIGH_WATER_BYTES`; a socket
 * stalled past `STALL_TIMEOUT_MS` closes 4008), WebSocket ping/pong idle
 * timeout (`WS_IDLE_TIMEOUT_S`) and graceful drain (close 1012).
 * @module
 */
import { chatOwner } from "../../guards/owner.ts";
import type { MiddlewareHandler } from "hono";
import type { UpgradeWebSocket, WSContext, WSEvents, WSMessageReceive } from "hono/ws";
import type { Context } from "@opentelemetry/api";
import type { ConnectionRegistry } from "../../connections.ts";
import type { GuardEnv, Lease, Rejection } from "../../guards/env.ts";
import { type ConnectionTrace, requestContext } from "../../telemetry/mod.ts";
import { WsConnection, type WsConnectionOptions } from "./connection.ts";
import type { WsDeps } from "./session.ts";

export { controlPingReceived, WsConnection, type WsConnectionOptions } from "./connection.ts";
export type { WsDeps } from "./session.ts";

/**
 * True when an `Upgrade` header value names the WebSocket protocol: a
 * case-insensitive token list (RFC 9110 section 7.8), so `WebSocket` counts.
 */
export function isWebSocketUpgrade(header: string | undefined): boolean {
  return header?.split(",").some((token) => token.trim().toLowerCase() === "websocket") ?? false;
}

/** What {@link wsHandler} needs besides the connection's dependencies. */
export interface WsHandlerDeps extends WsDeps {
  /** Hono's `upgradeWebSocket` for the runtime. */
  upgradeWebSocket: UpgradeWebSocket;
  /** Where open sockets register for graceful shutdown. */
  registry: ConnectionRegistry;
}

/** What the upgrade request tells about a socket, read before it opens. */
interface SocketSetup extends Omit<WsConnectionOptions, "trace"> {
  /** Set when the socket is to be told off and closed once open (connection limit). */
  rejection?: Rejection;
  /** The socket's slot in the per-address connection count. */
  lease?: Lease;
  /** The trace context of the upgrade request. */
  parent: Context;
}

/**
 * One socket's handlers, as one object: the connection is made when the
 * socket opens (or on its first message) and let go when it closes.
 */
class SocketEvents implements WSEvents {
  #deps: WsHandlerDeps;
  #setup: SocketSetup;
  #connection: WsConnection | undefined;
  #trace: ConnectionTrace | undefined;

  constructor(deps: WsHandlerDeps, setup: SocketSetup) {
    this.#deps = deps;
    this.#setup = setup;
  }

  onOpen(_event: Event, ws: WSContext): void {
    const opened = this.#open(ws);
    if (this.#setup.rejection) opened.reject(this.#setup.rejection);
  }

  onMessage(event: MessageEvent<WSMessageReceive>, ws: WSContext): void {
    this.#open(ws).receive(event.data);
  }

  onClose(event: CloseEvent): void {
    this.#end(event.code);
  }

  /** An arrow: Hono's Bun adapter calls `onError` on its own, not as a method. */
  readonly onError = (): void => this.#end();

  #open(ws: WSContext): WsConnection {
    if (this.#connection) return this.#connection;
    const deps = this.#deps;
    const { identity, owner, client, clientKey, parent } = this.#setup;
    this.#trace = deps.hub.telemetry.connection("ws", { parent, span: "chat.ws" });
    const connection = new WsConnection(deps, ws, {
      identity,
      owner,
      client,
      clientKey,
      trace: this.#trace.context,
    });
    this.#connection = connection;
    deps.registry.add(connection);
    deps.logger.debug("WebSocket open", { trace_id: connection.traceId });
    return connection;
  }

  #end(code?: number): void {
    const connection = this.#connection;
    connection?.close(code);
    if (connection) this.#deps.registry.remove(connection);
    this.#setup.lease?.release();
    if (this.#trace && code !== undefined) this.#trace.end({ "chat.ws.close_code": code });
    else this.#trace?.end();
    if (connection) {
      this.#deps.logger.debug("WebSocket closed", { trace_id: connection.traceId, code });
    }
  }
}

/** The `/ws/chat` upgrade handler. */
export function wsHandler(deps: WsHandlerDeps): MiddlewareHandler<GuardEnv> {
  const options = { idleTimeout: deps.config.WS_IDLE_TIMEOUT_S };
  return deps.upgradeWebSocket((c) => {
    const lease = c.get("lease") as Lease | undefined;
    if (isWebSocketUpgrade(c.req.header("upgrade"))) lease?.hold();
    return new SocketEvents(deps, {
      identity: c.get("identity") as string | undefined,
      owner: chatOwner(c),
      client: c.get("client") as string | undefined,
      clientKey: c.get("clientKey") as string | undefined,
      rejection: c.get("rejection") as Rejection | undefined,
      lease,
      parent: requestContext(c.req.header("traceparent")),
    });
  }, options);
}
