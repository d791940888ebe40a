import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { startFakeOpenAi } from "./helpers/fake_openai.ts";
import { startServer } from "./helpers/server.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

Deno.test("openai agent streams text and forwards tool calls from a real-protocol upstream", async () => {
  const upstream = startFakeOpenAi();
  const server = await startServer({
    AGENT: "openai",
    OPENAI_BASE_URL: upstream.baseUrl,
    OPENAI_API_KEY: "test-key",
    OPENAI_MODEL: "fake-model",
  });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "what is 6 times 7?", session_id: "openai-1" });
    const frames = await client.answer();
    const call = frames.find((f) => f.type === "tool_call");
    assertEquals(call?.name, "calculator");
    assertEquals(call?.input, { expression: "6*7" });
    const result = frames.find((f) => f.type === "tool_result");
    assertEquals(result?.output, { value: 42 });
    assertEquals(textOf(frames), "The answer is 42.");
    assertEquals(frames.at(-1)?.type, "done");
    assertEquals(upstream.requests.length, 2);
    assertEquals(upstream.requests[0].model, "fake-model");
    assert((upstream.requests[0].tools as unknown[]).length >= 3);

    client.send({ query: "and again?", session_id: "openai-1" });
    await client.answer();
    const messages = JSON.stringify(upstream.requests[2].messages);
    assertStringIncludes(messages, "what is 6 times 7?");
    assertStringIncludes(messages, "The answer is 42.");
  } finally {
    await client.close();
    await server.close();
    await upstream.close();
  }
});

Deno.test("openai agent: an unreachable upstream gives a generic error frame", async () => {
  const server = await startServer({
    AGENT: "openai",
    OPENAI_BASE_URL: "http://127.0.0.1:9/v1",
    OPENAI_MODEL: "fake-model",
  });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "hello" });
    const frames = await client.answer();
    const last = frames.at(-1)!;
    assertEquals(last.type, "error");
    assertEquals(last.code, "agent_error");
  } finally {
    await client.close();
    await server.close();
  }
});
