/**
 * The WebSocket upgrade on Deno: Hono's `hono/deno` helper, except that the
 * `Upgrade` header is read as what it is, a case-insensitive token list
 * (RFC 9110 section 7.8), so `Upgrade: WebSocket` upgrades too.
 * @module
 */
import { defineWebSocketHelper, WSContext } from "hono/ws";
import { isWebSocketUpgrade } from "./mod.ts";

/** `upgradeWebSocket` for Deno (same contract as `hono/deno`'s). */
export const upgradeWebSocket = defineWebSocketHelper<WebSocket, Deno.UpgradeWebSocketOptions>(
  (c, events, options) => {
    if (!isWebSocketUpgrade(c.req.header("upgrade"))) return;
    const protocol = c.req.header("sec-websocket-protocol")?.split(",")[0]?.trim();
    const { response, socket } = Deno.upgradeWebSocket(c.req.raw, {
      ...(protocol ? { protocol } : {}),
      ...options,
    });
    const ws = new WSContext<WebSocket>({
      close: (code, reason) => socket.close(code, reason),
      get protocol() {
        return socket.protocol;
      },
      raw: socket,
      get readyState() {
        return socket.readyState as 0 | 1 | 2 | 3;
      },
      url: socket.url ? new URL(socket.url) : null,
      send: (source) => socket.send(source),
    });
    socket.onopen = (event) => events.onOpen?.(event, ws);
    socket.onmessage = (event) => events.onMessage?.(event, ws);
    socket.onclose = (event) => events.onClose?.(event, ws);
    socket.onerror = (event) => events.onError?.(event, ws);
    return response;
  },
);
