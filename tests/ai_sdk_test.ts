import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { type UIMessage, type UIMessageChunk, WebSocketChatTransport } from "ai";
import { hangingAgent } from "./helpers/agents.ts";
import { startServer } from "./helpers/server.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

function userMessage(text: string): UIMessage {
  return {
    id: crypto.randomUUID(),
    role: "user",
    parts: [{ type: "text", text }],
  };
}

async function collect(
  stream: ReadableStream<UIMessageChunk>,
): Promise<UIMessageChunk[]> {
  const chunks: UIMessageChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

Deno.test("an unmodified WebSocketChatTransport receives the answer text and tool parts", async () => {
  const server = await startServer();
  const transport = new WebSocketChatTransport({ url: server.wsUrl });
  try {
    const stream = await transport.sendMessages({
      trigger: "submit-message",
      chatId: "aisdk-chat",
      messageId: undefined,
      messages: [userMessage("what is 6 * 7?")],
      abortSignal: undefined,
    });
    const chunks = await collect(stream);
    const types = chunks.map((c) => c.type);
    assertEquals(types[0], "start");
    assertEquals(types.at(-1), "finish");
    assert(types.includes("tool-input-available"));
    assert(types.includes("tool-output-available"));
    const text = chunks.map((c) => c.type === "text-delta" ? c.delta : "").join(
      "",
    );
    assertStringIncludes(text, "**42**");
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("AI SDK: many requests share one socket and the session remembers", async () => {
  const server = await startServer();
  const transport = new WebSocketChatTransport({ url: server.wsUrl });
  try {
    for (const question of ["what is 1+1", "what did I ask before?"]) {
      const chunks = await collect(
        await transport.sendMessages({
          trigger: "submit-message",
          chatId: "aisdk-memory",
          messageId: undefined,
          messages: [userMessage(question)],
          abortSignal: undefined,
        }),
      );
      const text = chunks.map((c) => c.type === "text-delta" ? c.delta : "")
        .join("");
      if (question.startsWith("what did")) {
        assertStringIncludes(text, "what is 1+1");
      }
    }
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("AI SDK: aborting the request aborts the agent", async () => {
  const agent = hangingAgent();
  const server = await startServer({}, { agent });
  const transport = new WebSocketChatTransport({ url: server.wsUrl });
  try {
    const abort = new AbortController();
    const stream = await transport.sendMessages({
      trigger: "submit-message",
      chatId: "aisdk-abort",
      messageId: undefined,
      messages: [userMessage("long")],
      abortSignal: abort.signal,
    });
    const reader = stream.getReader();
    while (true) {
      const { value } = await reader.read();
      if (value?.type === "text-delta") break;
    }
    abort.abort();
    await agent.aborted;
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("AI SDK: regenerate with no answer to replace gets a clear error, not a hang", async () => {
  const server = await startServer();
  const transport = new WebSocketChatTransport({ url: server.wsUrl });
  try {
    const stream = await transport.sendMessages({
      trigger: "regenerate-message",
      chatId: "aisdk-regen",
      messageId: undefined,
      messages: [userMessage("again")],
      abortSignal: undefined,
    });
    await assertRejects(
      () => collect(stream),
      Error,
      'Cannot regenerate: session "aisdk-regen" has no answer yet',
    );
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("AI SDK: resume with nothing retained resolves to null (no-active)", async () => {
  const server = await startServer();
  const transport = new WebSocketChatTransport({ url: server.wsUrl });
  try {
    const stream = await transport.reconnectToStream({
      chatId: "aisdk-resume",
    });
    assertEquals(stream, null);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("AI SDK dialect: a bad send frame gets an error for its requestId", async () => {
  const server = await startServer();
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({
      type: "send",
      requestId: "r1",
      id: "chat",
      trigger: "submit-message",
      messages: "nope",
    });
    const reply = await client.next();
    assertEquals(reply.type, "error");
    assertEquals(reply.requestId, "r1");
    assertStringIncludes(String(reply.errorText), 'field "messages"');
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("AI SDK dialect: the question follows the native query rules", async (t) => {
  const server = await startServer();
  const client = await WsTestClient.connect(server.wsUrl);
  const send = (requestId: string, role: string, text: string) =>
    client.send({
      type: "send",
      requestId,
      id: "chat",
      trigger: "submit-message",
      messages: [{ id: "m", role, parts: [{ type: "text", text }] }],
    });
  try {
    for (
      const [name, role, text, code] of [
        ["last message from the assistant", "assistant", "hi", "empty_query"],
        ["blank text", "user", "   ", "empty_query"],
        ["over-long text", "user", "x".repeat(8_001), "query_too_long"],
      ]
    ) {
      await t.step(name, async () => {
        send(name, role, text);
        const reply = await client.next();
        assertEquals([reply.type, reply.requestId, reply.code], ["error", name, code]);
        assertStringIncludes(String(reply.errorText), "last user message");
      });
    }
  } finally {
    await client.close();
    await server.close();
  }
});
