import {
  assert,
  assertEquals,
  assertGreater,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import { ErrorCode, ID_PATTERN } from "../protocol/codes.ts";
import { ServerFrame } from "../protocol/frames.ts";
import { echoAgent, failingAgent, hangingAgent } from "./helpers/agents.ts";
import { BAD_FRAMES } from "./helpers/protocol_cases.ts";
import { startServer } from "./helpers/server.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

Deno.test("seed dialect: query, content chunks, done, exactly as test_websocket.py", async () => {
  const server = await startServer();
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({
      query: "你好，请介绍一下你自己",
      session_id: "test_session",
    });
    const frames = await client.answer();
    for (const frame of frames) ServerFrame.parse(frame);
    assertEquals(frames[0].type, "session");
    assertEquals(frames[0].session_id, "test_session");
    assertEquals(frames.at(-1)?.type, "done");
    assertEquals(frames.at(-1)?.finish_reason, "stop");
    assertGreater(frames.filter((f) => f.type === "content").length, 5);
    assertStringIncludes(textOf(frames), "offline demo agent");
    const requestId = frames[0].request_id;
    assertEquals(frames.map((f) => f.seq), frames.map((_, i) => i));
    assert(frames.every((f) => f.request_id === requestId));
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("a query without session_id gets a fresh session id in the first frame", async () => {
  const server = await startServer();
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "hello" });
    const [first] = await client.answer();
    assertEquals(first.type, "session");
    assertMatch(String(first.session_id), ID_PATTERN);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("many turns over one socket remember earlier turns of the session", async () => {
  const server = await startServer();
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "what is 6 * 7", session_id: "memory-test" });
    assertStringIncludes(textOf(await client.answer()), "42");
    client.send({
      query: "what did I ask earlier?",
      session_id: "memory-test",
    });
    const text = textOf(await client.answer());
    assertStringIncludes(text, "what is 6 * 7");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("demo agent announces tools with status, tool_call and tool_result frames", async () => {
  const server = await startServer();
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ type: "query", query: "what is 2+3*4?" });
    const frames = await client.answer();
    const types = frames.map((f) => f.type);
    assert(types.indexOf("status") < types.indexOf("tool_call"));
    assert(types.indexOf("tool_call") < types.indexOf("tool_result"));
    const call = frames.find((f) => f.type === "tool_call")!;
    assertEquals(call.name, "calculator");
    assertEquals(call.input, { expression: "2+3*4" });
    const result = frames.find((f) => f.type === "tool_result")!;
    assertEquals(result.output, { value: 14 });
    assertEquals(result.tool_call_id, call.tool_call_id);
    assertStringIncludes(textOf(frames), "**14**");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("ping is answered with pong carrying the same id", async () => {
  const server = await startServer();
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ type: "ping", id: 7 });
    assertEquals(await client.next(), { type: "pong", id: 7 });
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("cancel mid-stream aborts the agent and ends with done cancelled", async () => {
  const agent = hangingAgent();
  const server = await startServer({}, { agent });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "long question", request_id: "req-1" });
    await client.until((f) => f.type === "content");
    client.send({ type: "cancel", request_id: "req-1" });
    await agent.aborted;
    const rest = await client.answer();
    const done = rest.at(-1)!;
    assertEquals(done.type, "done");
    assertEquals(done.finish_reason, "cancelled");
    assertEquals(done.cancelled, true);
    assertEquals(done.request_id, "req-1");
    // The socket stays usable for the next turn.
    client.send({ type: "ping", id: "after" });
    assertEquals(await client.next(), { type: "pong", id: "after" });
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("cancel naming no running answer gets not_found", async () => {
  const server = await startServer();
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ type: "cancel", request_id: "nope" });
    const frame = await client.next();
    assertEquals(frame.type, "error");
    assertEquals(frame.code, ErrorCode.NotFound);
    assertStringIncludes(String(frame.message), '"nope"');
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("closing the socket mid-stream aborts the agent", async () => {
  const agent = hangingAgent();
  const server = await startServer({}, { agent });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "long question" });
    await client.until((f) => f.type === "content");
    await client.close();
    await agent.aborted;
  } finally {
    await server.close();
  }
});

Deno.test("a second query while one streams gets busy and the first goes on", async () => {
  const agent = hangingAgent();
  const server = await startServer({}, { agent });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "first", request_id: "first" });
    await client.until((f) => f.type === "content");
    client.send({ query: "second", request_id: "second" });
    const busy = await client.next();
    assertEquals(busy.type, "error");
    assertEquals(busy.code, ErrorCode.Busy);
    assertEquals(busy.request_id, "second");
    assertStringIncludes(String(busy.message), '"first"');
    assertEquals(agent.calls.length, 1);
    client.send({ type: "cancel" });
    const end = (await client.answer()).at(-1)!;
    assertEquals(end.request_id, "first");
    assertEquals(end.finish_reason, "cancelled");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("an agent that throws yields a generic error frame and the socket stays usable", async () => {
  const server = await startServer({}, { agent: failingAgent() });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "break" });
    const frames = await client.answer();
    const error = frames.at(-1)!;
    assertEquals(error.type, "error");
    assertEquals(error.code, ErrorCode.AgentError);
    assert(
      !String(error.message).includes("secret"),
      "detail must stay in the server log",
    );
    client.send({ type: "ping" });
    assertEquals((await client.next()).type, "pong");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("bad input gets a specific error, never reaches the agent, socket stays usable", async (t) => {
  const agent = echoAgent();
  const server = await startServer({}, { agent });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    for (const [name, frame, code, words] of BAD_FRAMES) {
      await t.step(name, async () => {
        client.socket.send(frame);
        const reply = await client.next();
        assertEquals(reply.type, "error");
        assertEquals(reply.code, code);
        assertStringIncludes(String(reply.message), words);
        ServerFrame.parse(reply);
      });
    }
    assertEquals(agent.calls.length, 0);
    client.send({ query: "still here?" });
    assertEquals(textOf(await client.answer()), "echo: still here?");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("a frame over MAX_FRAME_BYTES closes the socket with 1009", async () => {
  const server = await startServer({ MAX_FRAME_BYTES: "2048" });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "x".repeat(4096) });
    const event = await client.closed();
    assertEquals(event.code, 1009);
    assertStringIncludes(event.reason, "2048");
  } finally {
    await server.close();
  }
});

Deno.test("a plain GET on /ws/chat answers 426", async () => {
  const server = await startServer();
  try {
    const response = await fetch(server.wsUrl.replace(/^ws/, "http"));
    assertEquals(response.status, 426);
    assertStringIncludes((await response.json()).error.message, "WebSocket");
  } finally {
    await server.close();
  }
});
