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
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import type { ConnectionRegistry } from "../../connections.ts";
import type { GuardEnv, Lease, Rejection } from "../../guards/env.ts";
import { type ConnectionTrace, requestContext } from "../../telemetry/mod.ts";
import { WsConnection } from "./connection.ts";
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

/** The `/ws/chat` upgrade handler. */
export function wsHandler(deps: WsHandlerDeps): MiddlewareHandler<GuardEnv> {
  const options = { idleTimeout: deps.config.WS_IDLE_TIMEOUT_S };
  return deps.upgradeWebSocket((c) => {
    const identity = c.get("identity") as string | undefined;
    const owner = chatOwner(c);
    const client = c.get("client") as string | undefined;
    const clientKey = c.get("clientKey") as string | undefined;
    const rejection = c.get("rejection") as Rejection | undefined;
    const lease = c.get("lease") as Lease | undefined;
    if (isWebSocketUpgrade(c.req.header("upgrade"))) lease?.hold();
    const parent = requestContext(c.req.header("traceparent"));
    let connection: WsConnection | undefined;
    let unregister: (() => void) | undefined;
    let trace: ConnectionTrace | undefined;
    const get = (ws: WSContext) => {
      if (!connection) {
        trace = deps.hub.telemetry.connection("ws", { parent, span: "chat.ws" });
        connection = new WsConnection(deps, ws, {
          identity,
          owner,
          client,
          clientKey,
          trace: trace.context,
        });
        unregister = deps.registry.add(connection);
        deps.logger.debug("WebSocket open", { trace_id: connection.traceId });
      }
      return connection;
    };
    const end = (code?: number) => {
      connection?.close(code);
      unregister?.();
      lease?.release();
      if (trace && code !== undefined) trace.end({ "chat.ws.close_code": code });
      else trace?.end();
      if (connection) {
        deps.logger.debug("WebSocket closed", { trace_id: connection.traceId, code });
      }
    };
    return {
      onOpen: (_event, ws) => {
        const opened = get(ws);
        if (rejection) opened.reject(rejection);
      },
      onMessage: (event, ws) => get(ws).receive(event.data),
      onClose: (event) => end(event.code),
      onError: () => end(),
    };
  }, options);
}
