/**
 * The client transport: the only code in the browser that touches the wire.
 *
 * {@link WsTransport} (`ws.ts`) and {@link SseTransport} (`sse.ts`) are thin
 * pipes; what they share (connection state, answers by phase, dedupe by
 * `seq`, cancel, interruption, the resume deadline) is owned by `session.ts`,
 * uploads by `uploads.ts`, the contract by `types.ts`. This module re-exports
 * them and picks a transport by kind.
 * @module
 */
import { WS_PATH } from "../../protocol/codes.ts";
import { withTicket } from "../auth.ts";
import { SseTransport } from "./sse.ts";
import type { ChatTransport, TransportKind } from "./types.ts";
import { WsTransport } from "./ws.ts";

export * from "./types.ts";
export * from "./session.ts";
export * from "./uploads.ts";
export * from "./ws.ts";
export * from "./sse.ts";

/** Options for {@link createTransport}. */
export interface CreateTransportOptions {
  /** The page's origin, e.g. `location.origin`. */
  origin: string;
  /** True when the server requires authentication: no connection before sign-in. */
  auth?: boolean;
  /** URL of the event source bundle SSE loads on first use (`FetchEventSource`). */
  sseUrl?: string;
}

/**
 * Creates the transport of the given kind for a page at `origin`. Each
 * connection carries a fresh ticket when the tab is signed in (`client/auth.ts`).
 */
export function createTransport(
  kind: TransportKind,
  options: CreateTransportOptions,
): ChatTransport {
  const authorize = (url: string) =>
    withTicket(url, { origin: options.origin, required: options.auth });
  const { sseUrl } = options;
  if (kind === "sse") {
    return new SseTransport({
      baseUrl: options.origin,
      authorize,
      loadEventSource: sseUrl
        ? () =>
          import(sseUrl).then((mod: typeof import("./fetch_event_source.ts")) =>
            mod.FetchEventSource
          )
        : undefined,
    });
  }
  return new WsTransport({ url: options.origin.replace(/^http/, "ws") + WS_PATH, authorize });
}
