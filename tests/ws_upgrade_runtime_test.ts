/**
 * Our WebSocket upgrade helpers (`server/transports/ws/deno_upgrade.ts`,
 * `bun_upgrade.ts`), each under its runtime, through a small app
 * (`tests/helpers/ws_upgrade_app.ts`) and a real client on a real port:
 * the `WSEvents` contract of Hono's helpers (events in order, text and
 * binary data, the chosen subprotocol, close code and reason), one
 * `WSContext` per socket whose state is read live, and on Bun a failing
 * handler closing the socket 1011. Then the real server: a peer that
 * stops answering pings is closed after `WS_IDLE_TIMEOUT_S` on both.
 */
import { assert, assertEquals } from "@std/assert";
import { RawWs } from "./helpers/raw_ws.ts";
import { RUNTIMES, warnIfNoBun } from "./helpers/runtimes.ts";
import { spawnServer } from "./helpers/spawn_server.ts";
import { within } from "./helpers/within.ts";

warnIfNoBun();

/** A socket to the report app: its frames, in order, as they come. */
class Reports {
  readonly socket: WebSocket;
  #frames: (Record<string, unknown> | number[])[] = [];
  #waiting: (() => void) | undefined;

  constructor(url: string, protocols?: string[]) {
    this.socket = new WebSocket(url, protocols);
    this.socket.binaryType = "arraybuffer";
    this.socket.onmessage = (event) => {
      const data = event.data;
      this.#frames.push(
        typeof data === "string" ? JSON.parse(data) : [...new Uint8Array(data as ArrayBuffer)],
      );
      this.#waiting?.();
    };
  }

  /** The next frame: a report, or the bytes of a binary frame. */
  async next(): Promise<Record<string, unknown> | number[]> {
    while (this.#frames.length === 0) {
      await within(new Promise<void>((resolve) => this.#waiting = resolve), 10_000, "a frame");
    }
    return this.#frames.shift()!;
  }

  /** Resolves with the close event. */
  closed(): Promise<CloseEvent> {
    return new Promise((resolve) => this.socket.addEventListener("close", resolve));
  }
}

for (const { runtime, ignore } of RUNTIMES) {
  Deno.test({
    name:
      `[${runtime}] our upgrade helper: Hono's WSEvents contract, one live WSContext per socket`,
    ignore,
    async fn(t) {
      const server = await spawnServer(runtime, {}, { script: "tests/helpers/ws_upgrade_app.ts" });
      const url = server.url.replace(/^http/, "ws") + "/ws";
      try {
        await t.step("open, text and binary messages, then a close by the server", async () => {
          const client = new Reports(url, ["chat.v1", "other"]);
          const open = await client.next() as Record<string, unknown>;
          assertEquals([open.event, open.readyState, open.errors], ["open", 1, 0]);
          // Bun's socket knows its URL; Deno's server-side socket has none.
          if (runtime === "bun") assertEquals(open.path, "/ws");
          assertEquals(client.socket.protocol, "chat.v1");
          client.socket.send("hello");
          assertEquals(await client.next(), {
            event: "message",
            type: "message",
            readyState: 1,
            sameContext: true,
            data: "hello",
          });
          client.socket.send(new Uint8Array([1, 2, 250]));
          assertEquals(await client.next(), {
            event: "message",
            type: "message",
            readyState: 1,
            sameContext: true,
            bytes: [1, 2, 250],
          });
          assertEquals(await client.next(), [1, 2, 250]);
          const closed = client.closed();
          client.socket.send("close");
          const event = await within(closed, 10_000, "the close").then(() => closed);
          assertEquals([event.code, event.reason], [4001, "asked"]);
        });

        await t.step(
          "onClose saw the code, the reason and the socket's own context, closing",
          async () => {
            const client = new Reports(url);
            const { lastClose } = await client.next() as { lastClose: Record<string, unknown> };
            assertEquals(lastClose.code, 4001);
            assertEquals(lastClose.reason, "asked");
            assertEquals(lastClose.sameContext, true);
            // Read from the context made at open: live, not a copy of the state then (1).
            assert(
              [2, 3].includes(lastClose.readyState as number),
              `state ${lastClose.readyState}`,
            );
            client.socket.close();
          },
        );

        if (runtime === "bun") {
          await t.step(
            "a handler that throws: onError is told, the socket closes 1011",
            async () => {
              const client = new Reports(url);
              await client.next();
              const closed = client.closed();
              client.socket.send("throw");
              const event = await within(closed, 10_000, "the close").then(() => closed);
              assertEquals(event.code, 1011);
              const next = new Reports(url);
              const open = await next.next() as Record<string, unknown>;
              assertEquals(open.errors, 1);
              assertEquals((open.lastClose as Record<string, unknown>).code, 1011);
              next.socket.close();
            },
          );
        }
      } finally {
        await server.close();
      }
    },
  });

  Deno.test({
    name: `[${runtime}] a peer that stops answering pings is closed after WS_IDLE_TIMEOUT_S`,
    ignore,
    async fn() {
      const server = await spawnServer(runtime, { WS_IDLE_TIMEOUT_S: "1" });
      // Never answers pings (and sends nothing).
      const peer = await RawWs.connect(server.wsUrl);
      try {
        // Bun's default is 120 s, Deno's none: the bound says the setting was applied.
        const ms = await within(peer.closeInfo(), 15_000, "the idle peer's close");
        console.log(`${runtime}: idle peer closed after ${ms.toFixed(0)} ms`);
      } finally {
        peer.close();
        await server.close();
      }
    },
  });
}
