/**
 * A small server over the runtime's own WebSocket upgrade helper (Deno:
 * `server/transports/ws/deno_upgrade.ts`, Bun: `bun_upgrade.ts`), for the
 * tests of the helpers themselves: `/ws` reports what its handlers see as
 * JSON text frames. Prints the Listening line the test helpers read.
 *
 *     deno run -A tests/helpers/ws_upgrade_app.ts   |   bun tests/helpers/ws_upgrade_app.ts
 *
 * Text messages: `close` closes the socket 4001 "asked"; `throw` makes the
 * handler throw; anything else is reported back. Binary messages are
 * reported and echoed as binary. Each socket's open report carries what
 * the previous socket's `onClose` saw.
 * @module
 */
import process from "node:process";
import { Hono } from "hono";
import type { UpgradeWebSocket, WSContext, WSEvents, WSMessageReceive } from "hono/ws";

/** The part of `Bun.serve` used here. */
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (request: Request, server: unknown) => Response | Promise<Response>;
    websocket: unknown;
  }): { url: URL };
}

const bun = (globalThis as { Bun?: BunServe }).Bun;
const helper: { upgradeWebSocket: UpgradeWebSocket; websocket?: unknown } = bun
  ? await import("../../server/transports/ws/bun_upgrade.ts")
  : await import("../../server/transports/ws/deno_upgrade.ts");

/** What the last closed socket's `onClose` saw. */
let lastClose: Record<string, unknown> | undefined;
let errors = 0;

/** One socket's handlers: reports its events. */
class Reporter implements WSEvents {
  #opened: WSContext | undefined;

  onOpen(_event: Event, ws: WSContext): void {
    this.#opened = ws;
    const path = ws.url?.pathname;
    ws.send(JSON.stringify({ event: "open", readyState: ws.readyState, path, lastClose, errors }));
  }

  onMessage(event: MessageEvent<WSMessageReceive>, ws: WSContext): void {
    const data = event.data;
    if (data === "throw") throw new Error("Cannot go on: the handler fails on purpose");
    if (data === "close") return ws.close(4001, "asked");
    const report = {
      event: "message",
      type: event.type,
      readyState: ws.readyState,
      sameContext: ws === this.#opened,
    };
    if (typeof data === "string") return ws.send(JSON.stringify({ ...report, data }));
    const bytes = new Uint8Array(data as ArrayBuffer);
    ws.send(JSON.stringify({ ...report, bytes: [...bytes] }));
    ws.send(bytes.slice().buffer);
  }

  onClose(event: CloseEvent, ws: WSContext): void {
    lastClose = {
      code: event.code,
      reason: event.reason,
      // Read live from the context the socket opened with: closing or closed.
      readyState: this.#opened?.readyState,
      sameContext: ws === this.#opened,
    };
  }

  onError(): void {
    errors++;
  }
}

const app = new Hono();
app.get("/ws", helper.upgradeWebSocket(() => new Reporter()));
const hostname = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 0);
if (bun) {
  const server = bun.serve({ hostname, port, fetch: app.fetch, websocket: helper.websocket });
  console.log(`Listening on ${server.url.href}`);
} else {
  Deno.serve({
    hostname,
    port,
    onListen: ({ port }) => console.log(`Listening on http://${hostname}:${port}/`),
  }, app.fetch);
}
