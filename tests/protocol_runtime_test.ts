/**
 * The protocol against a server started as a separate process, once per
 * runtime (Deno: `main.ts`, Bun: `bun.ts`). One suite, parameterised by
 * runtime; the Bun leg is ignored, with a message, when `bun` is missing.
 */
import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import { type UIMessageChunk, WebSocketChatTransport } from "ai";
import { ErrorCode } from "../protocol/codes.ts";
import { ServerFrame } from "../protocol/frames.ts";
import { BAD_FRAMES, SSE_BAD_QUERIES } from "./helpers/protocol_cases.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { RUNTIMES, warnIfNoBun } from "./helpers/runtimes.ts";
import { spawnServer } from "./helpers/spawn_server.ts";
import { readSse } from "./helpers/sse_client.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

warnIfNoBun();

/** Both runtimes close open sockets with 1012 "Server restarting" on SIGTERM. */
const SHUTDOWN_CLOSE_CODE = 1012;

for (const { runtime, ignore } of RUNTIMES) {
  Deno.test({
    name: `[${runtime}] protocol: seed dialect, AI SDK dialect, SSE, bad input, page`,
    ignore,
    async fn(t) {
      const server = await spawnServer(runtime);
      console.log(`${runtime} server up in ${server.startupMs.toFixed(0)} ms`);
      try {
        await t.step("seed dialect: session frame, content, done, seq numbers", async () => {
          const client = await WsTestClient.connect(server.wsUrl);
          try {
            client.send({ query: "你好，请介绍一下你自己", session_id: "rt_seed" });
            const frames = await client.answer();
            for (const frame of frames) ServerFrame.parse(frame);
            assertEquals(frames[0].type, "session");
            assertEquals(frames[0].session_id, "rt_seed");
            assertEquals(frames.at(-1)?.type, "done");
            assertEquals(frames.at(-1)?.finish_reason, "stop");
            assertGreater(frames.filter((f) => f.type === "content").length, 5);
            assertStringIncludes(textOf(frames), "offline demo agent");
            assertEquals(frames.map((f) => f.seq), frames.map((_, i) => i));
            assert(frames.every((f) => f.request_id === frames[0].request_id));
            // A second turn over the same socket remembers the first.
            client.send({ query: "what did I ask earlier?", session_id: "rt_seed" });
            assertStringIncludes(textOf(await client.answer()), "你好");
          } finally {
            await client.close();
          }
        });

        await t.step("AI SDK dialect: WebSocketChatTransport receives the text", async () => {
          const transport = new WebSocketChatTransport({ url: server.wsUrl });
          try {
            const stream = await transport.sendMessages({
              trigger: "submit-message",
              chatId: "rt-aisdk",
              messageId: undefined,
              messages: [{
                id: crypto.randomUUID(),
                role: "user",
                parts: [{ type: "text", text: "what is 6 * 7?" }],
              }],
              abortSignal: undefined,
            });
            const chunks: UIMessageChunk[] = [];
            for await (const chunk of stream) chunks.push(chunk);
            assertEquals(chunks[0].type, "start");
            assertEquals(chunks.at(-1)?.type, "finish");
            assert(chunks.some((c) => c.type === "tool-output-available"));
            const text = chunks.map((c) => c.type === "text-delta" ? c.delta : "").join("");
            assertStringIncludes(text, "**42**");
          } finally {
            transport.close();
          }
        });

        await t.step("SSE: the same frames, with ids, read by eventsource-parser", async () => {
          const response = await fetch(
            `${server.url}/agent_chat_stream?query=${
              encodeURIComponent("what is 2+3*4")
            }&session_id=rt_sse`,
          );
          assertEquals(response.status, 200);
          assertStringIncludes(response.headers.get("content-type")!, "text/event-stream");
          assertEquals(response.headers.get("cache-control"), "no-cache");
          const events = await readSse(response);
          const frames = events.map((e) => ServerFrame.parse(e.json));
          assertEquals(frames[0].type, "session");
          assertEquals(frames.at(-1)?.type, "done");
          const requestId = events[0].json.request_id;
          events.forEach((event, seq) => assertEquals(event.id, `${requestId}:${seq}`));
          const text = frames.map((f) => f.type === "content" ? f.content : "").join("");
          assertStringIncludes(text, "**14**");
          assert(frames.some((f) => f.type === "tool_call"));
        });

        await t.step(
          "bad WebSocket input: a specific error each, socket stays usable",
          async () => {
            const client = await WsTestClient.connect(server.wsUrl);
            try {
              for (const [, frame, code, words] of BAD_FRAMES) {
                client.socket.send(frame);
                const reply = await client.next();
                assertEquals([reply.type, reply.code], ["error", code], String(reply.message));
                assertStringIncludes(String(reply.message), words);
                ServerFrame.parse(reply);
              }
              client.send({ query: "hello", session_id: "rt_bad" });
              assertEquals((await client.answer()).at(-1)?.type, "done");
            } finally {
              await client.close();
            }
          },
        );

        await t.step("bad SSE input: 400 JSON before any stream", async () => {
          for (const [name, search, code] of SSE_BAD_QUERIES) {
            const response = await fetch(`${server.url}/agent_chat_stream${search}`);
            assertEquals(response.status, 400, name);
            const body = await response.json();
            assertEquals(body.error.code, code, name);
          }
        });

        await t.step("a frame over MAX_FRAME_BYTES closes the socket with 1009", async () => {
          const client = await WsTestClient.connect(server.wsUrl);
          client.send({ query: "x".repeat(70 * 1024) });
          const event = await client.closed();
          assertEquals(event.code, 1009);
          assertStringIncludes(event.reason, "65536");
        });

        await t.step("a plain GET on /ws/chat answers 426", async () => {
          const response = await fetch(`${server.url}/ws/chat`);
          assertEquals(response.status, 426);
          await response.body?.cancel();
        });

        await t.step(
          "Upgrade: WebSocket in any case upgrades (header values are case-insensitive)",
          async () => {
            for (const value of ["WebSocket", "WEBSOCKET"]) {
              const ws = await RawWs.connect(server.wsUrl, { Upgrade: value });
              await ws.sendText(JSON.stringify({ type: "ping", id: value }));
              assertEquals(await ws.nextJson(), { type: "pong", id: value });
              ws.close();
            }
          },
        );

        await t.step("the page and its boot bundle are served", async () => {
          const html = await (await fetch(`${server.url}/`)).text();
          const boot = html.match(/src="(\/static\/boot-[0-9a-f]+\.js)"/)?.[1];
          assert(boot, "the page has no boot script");
          const response = await fetch(`${server.url}${boot}`);
          assertEquals(response.status, 200);
          assertStringIncludes(response.headers.get("content-type")!, "javascript");
          assertGreater((await response.arrayBuffer()).byteLength, 1000);
        });
      } finally {
        await server.close();
      }
    },
  });

  Deno.test({
    name: `[${runtime}] cancel mid-stream ends with done cancelled, socket stays usable`,
    ignore,
    async fn() {
      const server = await spawnServer(runtime, {
        AGENT: "synthetic",
        SYNTHETIC_INTERVAL_MS: "50",
        SYNTHETIC_CHUNKS: "1000",
      });
      const client = await WsTestClient.connect(server.wsUrl);
      try {
        client.send({ query: "long answer", request_id: "rt-cancel" });
        await client.until((f) => f.type === "content");
        client.send({ type: "cancel", request_id: "rt-cancel" });
        const done = (await client.answer()).at(-1)!;
        assertEquals(done.type, "done");
        assertEquals(done.finish_reason, "cancelled");
        assertEquals(done.cancelled, true);
        assertEquals(done.request_id, "rt-cancel");
        client.send({ type: "cancel", request_id: "rt-cancel" });
        assertEquals((await client.next()).code, ErrorCode.NotFound);
        client.send({ type: "ping", id: "after" });
        assertEquals(await client.next(), { type: "pong", id: "after" });
      } finally {
        await client.close();
        await server.close();
      }
    },
  });

  Deno.test({
    name: `[${runtime}] a dropped socket's answer resumes on a new socket, no gap, no duplicate`,
    ignore,
    async fn() {
      const chunks = 80;
      const server = await spawnServer(runtime, {
        AGENT: "synthetic",
        SYNTHETIC_INTERVAL_MS: "5",
        SYNTHETIC_CHUNKS: String(chunks),
      });
      try {
        const first = await WsTestClient.connect(server.wsUrl);
        first.send({ query: "count", request_id: "rt-resume" });
        const seen = [];
        while (seen.length < 20) seen.push(await first.next());
        first.socket.close(4000, "network drop"); // not 1000: the answer must go on
        await first.closed();
        const second = await WsTestClient.connect(server.wsUrl);
        second.send({ type: "resume", request_id: "rt-resume", last_seq: seen.at(-1)!.seq });
        const rest = await second.answer();
        await second.close();
        const frames = [...seen, ...rest];
        assertEquals(frames.map((f) => f.seq), frames.map((_, i) => i));
        assertEquals(frames.filter((f) => f.type === "content").length, chunks);
        assertEquals(frames.at(-1)?.finish_reason, "stop");
      } finally {
        await server.close();
      }
    },
  });

  Deno.test({
    name:
      `[${runtime}] SIGTERM mid-stream closes 1012 to reconnect and resume, never shutting_down`,
    ignore,
    async fn() {
      const server = await spawnServer(runtime, {
        AGENT: "synthetic",
        SYNTHETIC_INTERVAL_MS: "50",
        SYNTHETIC_CHUNKS: "1000",
        SHUTDOWN_TIMEOUT_MS: "1000",
      });
      const client = await WsTestClient.connect(server.wsUrl);
      try {
        client.send({ query: "long answer" });
        await client.until((f) => f.type === "content");
        const closing = server.close();
        const closed = await client.closed();
        assertEquals(closed.code, SHUTDOWN_CLOSE_CODE);
        assertStringIncludes(closed.reason, "resume");
        // The answer is let go, not ended: no error frame before the close.
        assertEquals(client.pending().filter((f) => f.type === "error"), []);
        await closing;
      } finally {
        await client.close();
        await server.close();
      }
    },
  });

  Deno.test({
    name: `[${runtime}] history survives a server restart`,
    ignore,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: `chat-${runtime}-restart-` });
      const env = { KV_PATH: `${dir}/chat.kv` };
      try {
        let server = await spawnServer(runtime, env);
        let client = await WsTestClient.connect(server.wsUrl);
        client.send({ query: "remember the number 1234", session_id: "rt_restart" });
        await client.answer();
        await client.close();
        await server.close();
        server = await spawnServer(runtime, env);
        client = await WsTestClient.connect(server.wsUrl);
        try {
          client.send({ query: "what did I ask earlier?", session_id: "rt_restart" });
          assertStringIncludes(textOf(await client.answer()), "1234");
        } finally {
          await client.close();
          await server.close();
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
