/**
 * `WsConnection` in process, over a fake socket (Hono's `WSContext`): the
 * socket handling (rate limit, backpressure, stall, drain, close) and both
 * dialects, frame by frame, with no network. The end-to-end suites
 * (`ws_test.ts`, `ai_sdk_test.ts`, ...) cover the same over real sockets.
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { CloseCode, ErrorCode } from "../protocol/codes.ts";
import type { Agent } from "../server/agents/types.ts";
import { WsConnection } from "../server/transports/ws/mod.ts";
import { echoAgent, hangingAgent } from "./helpers/agents.ts";
import { FakeSocket, harness } from "./helpers/fake_ws.ts";

function open(agent: Agent = echoAgent(), env: Record<string, string> = {}) {
  const h = harness(agent, env);
  const socket = new FakeSocket();
  const connection = new WsConnection(h.deps, socket.context);
  return { ...h, socket, connection };
}

const isType = (type: string) => (frame: Record<string, unknown>) => frame.type === type;

Deno.test("native query: session, content and done frames, numbered in order", async () => {
  const { socket, connection } = open();
  connection.receive(JSON.stringify({ query: "hi", request_id: "r1", session_id: "s1" }));
  await socket.until(isType("done"));
  assertEquals(socket.frames.map((f) => f.type), ["session", "content", "content", "done"]);
  assertEquals(socket.frames.map((f) => f.seq), [0, 1, 2, 3]);
  assertEquals(socket.frames.map((f) => f.request_id), ["r1", "r1", "r1", "r1"]);
  assertEquals(socket.frames.at(-1)?.finish_reason, "stop");
});

Deno.test("a second query while one streams gets busy; the first goes on", async () => {
  const agent = hangingAgent();
  const { socket, connection } = open(agent);
  connection.receive(JSON.stringify({ query: "one", request_id: "r1" }));
  await socket.until(isType("content"));
  connection.receive(JSON.stringify({ query: "two", request_id: "r2" }));
  const busy = await socket.until(isType("error"));
  assertEquals(busy?.code, ErrorCode.Busy);
  assertEquals(busy?.request_id, "r2");
  connection.receive(JSON.stringify({ type: "cancel", request_id: "r1" }));
  const done = await socket.until(isType("done"));
  assertEquals(done?.finish_reason, "cancelled");
  assertEquals(agent.calls.length, 1);
});

Deno.test("ping is answered with pong", async () => {
  const { socket, connection } = open();
  connection.receive(JSON.stringify({ type: "ping", id: "p1" }));
  assertEquals(await socket.until(isType("pong")), { type: "pong", id: "p1" });
});

Deno.test("over the message rate limit: rate_limited error, then close 4029", async () => {
  const { socket, connection } = open(echoAgent(), { RATE_LIMIT_PER_MINUTE: "2" });
  for (let i = 0; i < 3; i++) connection.receive(JSON.stringify({ type: "ping", id: `p${i}` }));
  const error = await socket.until(isType("error"));
  assertEquals(error?.code, ErrorCode.RateLimited);
  assert(typeof error?.retry_after === "number");
  assertEquals(socket.closes[0].code, CloseCode.RateLimited);
  assertEquals(socket.frames.filter(isType("pong")).length, 2);
});

Deno.test("a frame over the size limit closes 1009", async () => {
  const { socket, connection } = open(echoAgent(), { MAX_FRAME_BYTES: "1024" });
  connection.receive(JSON.stringify({ query: "x".repeat(2_000) }));
  await socket.until("close");
  assertEquals(socket.closes[0].code, CloseCode.MessageTooBig);
});

Deno.test("a socket that stops reading pauses the answer, then closes 4008", async () => {
  const many = {
    name: "many",
    async *stream() {
      for (let i = 0; i < 10_000; i++) yield { type: "text-delta" as const, delta: "x" };
    },
  };
  const { socket, connection, backend } = open(many, { STALL_TIMEOUT_MS: "100" });
  socket.bufferedAmount = 100 * 1024 * 1024;
  connection.receive(JSON.stringify({ query: "flood", session_id: "slow" }));
  await socket.until("close");
  assertEquals(socket.closes[0].code, CloseCode.SlowConsumer);
  assert(socket.frames.length < 100, `paused after ${socket.frames.length} frames`);
  connection.close(CloseCode.SlowConsumer);
  // The answer was stopped, and persisted as such.
  while ((await backend.history.load("slow")).length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assertEquals((await backend.history.load("slow"))[0].finishReason, "error");
});

Deno.test("drain lets go of the answer (no error frame), closes 1012 to resume, and the answer runs on", async () => {
  const { hub, deps, socket, connection } = open(hangingAgent());
  connection.receive(JSON.stringify({ query: "q", request_id: "r1" }));
  await socket.until(isType("content"));
  const draining = connection.drain();
  await socket.until("close");
  connection.close(CloseCode.ServiceRestart); // the runtime reports the close
  await draining;
  assertEquals(socket.frames.filter(isType("error")), []);
  assertEquals(socket.closes[0].code, CloseCode.ServiceRestart);
  assertStringIncludes(socket.closes[0].reason ?? "", "resume");
  // The answer is still running: a resume picks it up where the client was.
  const second = new FakeSocket();
  const resumed = new WsConnection(deps, second.context);
  resumed.receive(JSON.stringify({ type: "resume", request_id: "r1", last_seq: 0 }));
  assertEquals((await second.until(isType("content")))?.seq, 1);
  await hub.stopAll();
  assertEquals((await second.until(isType("done")))?.finish_reason, "cancelled");
});

Deno.test("a dropped socket leaves the answer to resume; a clean close cancels it", async () => {
  const agent = hangingAgent();
  const { hub, deps, socket, connection } = open(agent);
  connection.receive(JSON.stringify({ query: "q", request_id: "r1" }));
  await socket.until(isType("content"));
  connection.close(1006);
  const second = new FakeSocket();
  const resumed = new WsConnection(deps, second.context);
  resumed.receive(JSON.stringify({ type: "resume", request_id: "r1", last_seq: 0 }));
  const content = await second.until(isType("content"));
  assertEquals(content?.seq, 1);
  resumed.close(CloseCode.Normal);
  await agent.aborted;
  await hub.stopAll();
});

Deno.test("AI SDK send: numbered chunks, then end, on the same socket", async () => {
  const { socket, connection } = open();
  connection.receive(JSON.stringify({
    type: "send",
    requestId: "a1",
    id: "chat1",
    trigger: "submit-message",
    messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "hello" }] }],
  }));
  await socket.until(isType("end"));
  const chunks = socket.frames.filter(isType("chunk"));
  assertEquals(chunks.map((f) => f.sequence), chunks.map((_, i) => i));
  const text = chunks.map((f) => (f.chunk as { delta?: string }).delta ?? "").join("");
  assertEquals(text, "echo: hello");
});

Deno.test("an upload announced, sent in two binary frames and stored", async () => {
  const { socket, connection, backend } = open();
  const bytes = new TextEncoder().encode("hello world");
  connection.receive(JSON.stringify({
    type: "upload",
    upload_id: "u1",
    session_id: "s1",
    name: "a.txt",
    mime: "text/plain",
    size: bytes.length,
  }));
  connection.receive(bytes.slice(0, 5));
  connection.receive(bytes.slice(5));
  const uploaded = await socket.until(isType("uploaded"));
  assertEquals(uploaded?.upload_id, "u1");
  assertEquals((await backend.uploads.load("s1", "u1"))?.text, "hello world");
});

Deno.test("a binary frame with no upload announced is refused", async () => {
  const { socket, connection } = open();
  connection.receive(new Uint8Array([1, 2, 3]));
  const error = await socket.until(isType("error"));
  assertEquals(error?.code, ErrorCode.BinaryUnsupported);
});
