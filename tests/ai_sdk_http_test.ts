/**
 * AI SDK parity on both of its transports: the real `DefaultChatTransport`
 * (`POST /api/chat`, resume `GET /api/chat/{id}/stream`) and the real
 * `WebSocketChatTransport` get the answer and resume mid-answer through the
 * same core and stream log; a WebSocket `resume` honours `lastSequence`;
 * a `send` right after an `abort` on the same socket never gets `busy`.
 */
import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import {
  DefaultChatTransport,
  type UIMessage,
  type UIMessageChunk,
  WebSocketChatTransport,
} from "ai";
import { startFakeOpenAi } from "./helpers/fake_openai.ts";
import { startServer } from "./helpers/server.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

function userMessage(text: string): UIMessage {
  return { id: crypto.randomUUID(), role: "user", parts: [{ type: "text", text }] };
}

async function collect(stream: ReadableStream<UIMessageChunk>): Promise<UIMessageChunk[]> {
  const chunks: UIMessageChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const textOf = (chunks: UIMessageChunk[]) =>
  chunks.map((c) => c.type === "text-delta" ? c.delta : "").join("");

/** Reads `count` chunks of a stream, then lets go of it. */
async function readSome(stream: ReadableStream<UIMessageChunk>, count: number) {
  const chunks: UIMessageChunk[] = [];
  const reader = stream.getReader();
  while (chunks.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  reader.releaseLock();
  return chunks;
}

const LONG_QUESTION = [userMessage("hello, who are you?")];

/** Starts a long answer over HTTP, reads a few chunks and drops the request. */
async function dropHttpAnswer(transport: DefaultChatTransport<UIMessage>): Promise<string> {
  const abort = new AbortController();
  const first = await readSome(
    await transport.sendMessages({
      trigger: "submit-message",
      chatId: "parity-2",
      messageId: undefined,
      messages: LONG_QUESTION,
      abortSignal: abort.signal,
    }),
    6,
  );
  assertEquals(first[0].type, "start");
  abort.abort();
  return textOf(first);
}

/** Starts a long answer on a socket, reads a few chunks and drops the socket (not a cancel). */
async function dropWsAnswer(wsUrl: string): Promise<string> {
  const ws = new WebSocket(wsUrl);
  const chunks: UIMessageChunk[] = [];
  const enough = Promise.withResolvers<void>();
  ws.onmessage = (event) => {
    const frame = JSON.parse(String(event.data));
    if (frame.type === "chunk") chunks.push(frame.chunk);
    if (chunks.length >= 6) enough.resolve();
  };
  ws.onopen = () =>
    ws.send(JSON.stringify({
      type: "send",
      requestId: "drop-1",
      id: "parity-2",
      trigger: "submit-message",
      messages: LONG_QUESTION,
    }));
  await enough.promise;
  const closed = new Promise((resolve) => (ws.onclose = resolve));
  ws.close(4000, "dropped");
  await closed;
  return textOf(chunks);
}

type Transport = DefaultChatTransport<UIMessage> | WebSocketChatTransport<UIMessage>;

const transports: [string, (url: string, wsUrl: string) => Transport][] = [
  ["DefaultChatTransport (HTTP)", (url) => new DefaultChatTransport({ api: `${url}/api/chat` })],
  ["WebSocketChatTransport", (_url, wsUrl) => new WebSocketChatTransport({ url: wsUrl })],
];

for (const [name, create] of transports) {
  Deno.test(`AI SDK ${name}: gets the answer and resumes mid-answer`, async () => {
    const server = await startServer({ DEMO_DELAY_MS: "20" });
    const transport = create(server.url, server.wsUrl);
    try {
      const full = await collect(
        await transport.sendMessages({
          trigger: "submit-message",
          chatId: "parity-1",
          messageId: undefined,
          messages: [userMessage("what is 6 * 7?")],
          abortSignal: undefined,
        }),
      );
      assertEquals(full[0].type, "start");
      assertEquals(full.at(-1)?.type, "finish");
      assert(full.some((c) => c.type === "tool-input-available"));
      assertStringIncludes(textOf(full), "**42**");

      // A long answer, dropped after a few chunks, then resumed.
      const firstText = name.includes("HTTP")
        ? await dropHttpAnswer(transport as DefaultChatTransport<UIMessage>)
        : await dropWsAnswer(server.wsUrl);
      const again = name.includes("HTTP") ? transport : create(server.url, server.wsUrl);
      try {
        const resumed = await again.reconnectToStream({ chatId: "parity-2" });
        assert(resumed, "the answer is still there");
        const chunks = await collect(resumed);
        assertEquals(chunks[0].type, "start");
        assertEquals(chunks.at(-1)?.type, "finish");
        const text = textOf(chunks);
        assertStringIncludes(text, "offline demo agent");
        assertGreater(text.length, firstText.length);
        assert(text.startsWith(firstText), "the replay starts with what was shown");
        assertEquals(await again.reconnectToStream({ chatId: "parity-never" }), null);
      } finally {
        if (again instanceof WebSocketChatTransport) again.close();
      }
    } finally {
      if (transport instanceof WebSocketChatTransport) transport.close();
      await server.close();
    }
  });
}

for (const [name, create] of transports) {
  Deno.test(`AI SDK ${name}: regenerate-message makes one model request and replaces the answer`, async () => {
    const upstream = startFakeOpenAi();
    const server = await startServer({
      AGENT: "openai",
      OPENAI_BASE_URL: upstream.baseUrl,
      OPENAI_MODEL: "fake-model",
    });
    const transport = create(server.url, server.wsUrl);
    const ask = async (trigger: "submit-message" | "regenerate-message", text: string) =>
      await collect(
        await transport.sendMessages({
          trigger,
          chatId: "regen",
          messageId: undefined,
          messages: [userMessage(text)],
          abortSignal: undefined,
        }),
      );
    try {
      assertStringIncludes(textOf(await ask("submit-message", "[code] please")), "const answer");
      assertEquals(upstream.requests.length, 1);
      const again = await ask("regenerate-message", "[code] please");
      assertEquals(again.at(-1)?.type, "finish");
      assertStringIncludes(textOf(again), "const answer");
      assertEquals(upstream.requests.length, 2, "exactly one new model request");
      const regenerated = upstream.requests[1].messages as { role: string; content: unknown }[];
      assertEquals(
        regenerated.filter((m) => m.role === "user").length,
        1,
        "the old answer is not in the history it sees",
      );
      await ask("submit-message", "[code] once more");
      const seen = JSON.stringify(upstream.requests[2].messages);
      assertEquals(seen.split("[code] please").length - 1, 1, "history keeps one branch");
    } finally {
      if (transport instanceof WebSocketChatTransport) transport.close();
      await server.close();
      await upstream.close();
    }
  });
}

Deno.test("AI SDK HTTP: a bad body is a 400 with the service's error shape", async () => {
  const server = await startServer();
  try {
    const response = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "chat", messages: "nope", trigger: "submit-message" }),
    });
    assertEquals(response.status, 400);
    assertEquals((await response.json()).error.code, "invalid_frame");
    const foreign = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://evil.example" },
      body: "{}",
    });
    assertEquals(foreign.status, 403, "guarded like the other streams");
    await foreign.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("AI SDK WebSocket: resume honours lastSequence", async () => {
  const server = await startServer({ DEMO_DELAY_MS: "20" });
  const client = await WsTestClient.connect(server.wsUrl);
  const resumer = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({
      type: "send",
      requestId: "r1",
      id: "seq-chat",
      trigger: "submit-message",
      messages: [{ id: "m", role: "user", parts: [{ type: "text", text: "hello" }] }],
    });
    for (let i = 0; i < 5; i++) await client.next();
    resumer.send({ type: "resume", requestId: "r2", id: "seq-chat", lastSequence: 3 });
    assertEquals((await resumer.next()).type, "start");
    const next = await resumer.next();
    assertEquals([next.type, next.sequence], ["chunk", 4], "chunks 0..3 are not sent again");
  } finally {
    await client.close();
    await resumer.close();
    await server.close();
  }
});

Deno.test("AI SDK WebSocket: abort and send back to back on one socket: no busy", async () => {
  const upstream = startFakeOpenAi();
  const dir = await Deno.makeTempDir();
  const server = await startServer({
    AGENT: "openai",
    OPENAI_BASE_URL: upstream.baseUrl,
    OPENAI_MODEL: "fake-model",
    // A store on disk: persisting the aborted turn takes a moment.
    KV_PATH: `${dir}/kv`,
  });
  const client = await WsTestClient.connect(server.wsUrl);
  const send = (requestId: string, text: string) =>
    client.send({
      type: "send",
      requestId,
      id: "back-to-back",
      trigger: "submit-message",
      messages: [{ id: requestId, role: "user", parts: [{ type: "text", text }] }],
    });
  try {
    for (let i = 0; i < 3; i++) {
      send(`long-${i}`, "[long] go on");
      while (((await client.next()).chunk as { type?: string } | undefined)?.type !== "text-delta");
      client.send({ type: "abort", requestId: `long-${i}` });
      send(`next-${i}`, "[code] then this");
      let frame;
      do frame = await client.next(); while (
        !(frame.requestId === `next-${i}` && frame.type === "end" || frame.type === "error")
      );
      assertEquals(frame.type, "end", `try ${i + 1}: ${JSON.stringify(frame)}`);
    }
  } finally {
    await client.close();
    await server.close();
    await upstream.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AI SDK WebSocket: a send right after an abort never gets busy", async () => {
  const server = await startServer({ DEMO_DELAY_MS: "20" });
  const transport = new WebSocketChatTransport({ url: server.wsUrl });
  try {
    for (let i = 0; i < 3; i++) {
      const abort = new AbortController();
      await readSome(
        await transport.sendMessages({
          trigger: "submit-message",
          chatId: "abort-send",
          messageId: undefined,
          messages: [userMessage("hello, who are you?")],
          abortSignal: abort.signal,
        }),
        3,
      );
      abort.abort();
      const chunks = await collect(
        await transport.sendMessages({
          trigger: "submit-message",
          chatId: "abort-send",
          messageId: undefined,
          messages: [userMessage("what is 1+1")],
          abortSignal: undefined,
        }),
      );
      assertEquals(chunks.at(-1)?.type, "finish", `try ${i + 1}`);
    }
  } finally {
    transport.close();
    await server.close();
  }
});
