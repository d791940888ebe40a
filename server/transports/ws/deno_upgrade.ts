/**
 * The WebSocket upgrade on Deno: Hono's `hono/deno` helper, except that the
 * `Upgrade` header is read as what it is, a case-insensitive token list
 * (RFC 9110 section 7.8), so `Upgrade: WebSocket` upgrades too, and that an
 * idle socket costs one small object ({@link DenoSocket}) instead of a
 * closure per event and per `WSContext` method.
 * @module
 */
import { defineWebSocketHelper, WSContext, type WSContextInit, type WSEvents } from "hono/ws";
import type { WSReadyState } from "hono/ws";
import { isWebSocketUpgrade } from "./mod.ts";

/** The socket's events, in the order `Deno.upgradeWebSocket`'s socket fires them. */
const EVENT_TYPES = ["open", "message", "close", "error"] as const;

/**
 * One upgraded socket: what Hono's `WSContext` wraps (its `send`, `close`,
 * state) and the listener of the socket's events, which it hands to the
 * app's handlers with that `WSContext`.
 */
class DenoSocket implements WSContextInit<WebSocket>, EventListenerObject {
  readonly raw: WebSocket;
  #events: WSEvents<WebSocket>;
  #ws: WSContext<WebSocket>;

  constructor(raw: WebSocket, events: WSEvents<WebSocket>) {
    this.raw = raw;
    this.#events = events;
    this.#ws = new WSContext(this);
    for (const type of EVENT_TYPES) raw.addEventListener(type, this, { once: type === "open" });
  }

  get protocol(): string {
    return this.raw.protocol;
  }

  get readyState(): WSReadyState {
    return this.raw.readyState as WSReadyState;
  }

  get url(): URL | null {
    return this.raw.url ? new URL(this.raw.url) : null;
  }

  send(source: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void {
    this.raw.send(source);
  }

  close(code?: number, reason?: string): void {
    this.raw.close(code, reason);
  }

  handleEvent(event: Event): void {
    const events = this.#events;
    switch (event.type) {
      case "open":
        return events.onOpen?.(event, this.#ws);
      case "message":
        return events.onMessage?.(event as MessageEvent, this.#ws);
      case "close":
        return events.onClose?.(event as CloseEvent, this.#ws);
      case "error":
        return events.onError?.(event, this.#ws);
    }
  }
}

/** `upgradeWebSocket` for Deno (same contract as `hono/deno`'s). */
export const upgradeWebSocket = defineWebSocketHelper<WebSocket, Deno.UpgradeWebSocketOptions>(
  (c, events, options) => {
    if (!isWebSocketUpgrade(c.req.header("upgrade"))) return;
    const protocol = c.req.header("sec-websocket-protocol")?.split(",")[0]?.trim();
    const { response, socket } = Deno.upgradeWebSocket(c.req.raw, {
      ...(protocol ? { protocol } : {}),
      ...options,
    });
    // Listens to the socket for as long as it lives (the socket keeps it).
    new DenoSocket(socket, events);
    return response;
  },
);
