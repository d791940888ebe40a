import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type UIMessageChunk, WebSocketChatTransport } from "ai";
import { ServerFrame } from "../protocol/frames.ts";
import { hangingAgent } from "./helpers/agents.ts";
import { startServer } from "./helpers/server.ts";
import { spawnServer } from "./helpers/spawn_server.ts";
import { sseEvents } from "./helpers/sse_client.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

/** A close code that is not 1000: the server treats it as a drop, not a goodbye. */
const DROP = 4000;
const CHUNKS = 60;
/** A slow synthetic answer: CHUNKS chunks, 3 ms apart. */
const SLOW = {
  AGENT: "synthetic",
  SYNTHETIC_CHUNKS: String(CHUNKS),
  SYNTHETIC_CHUNK_BYTES: "4",
  SYNTHETIC_INTERVAL_MS: "3",
};

type Frame = Record<string, unknown>;

/** Asserts frames 0..n of one answer, each once, in order, ending with done. */
function assertWholeAnswer(frames: Frame[], finishReason = "stop"): void {
  for (const frame of frames) ServerFrame.parse(frame);
  assertEquals(frames.map((f) => f.seq), frames.map((_, i) => i), "no gap, no duplicate");
  assertEquals(frames[0].type, "session");
  assertEquals(frames.at(-1)?.type, "done");
  assertEquals(frames.at(-1)?.finish_reason, finishReason);
  if (finishReason === "stop") {
    assertEquals(frames.filter((f) => f.type === "content").length, CHUNKS);
  }
}

async function readUntilDone(client: WsTestClient): Promise<Frame[]> {
  return await client.until((f) => f.type === "done" || f.type === "error");
}

Deno.test("WS resume after a drop at a random point: every frame exactly once", async () => {
  const server = await startServer(SLOW);
  try {
    for (let iteration = 0; iteration < 12; iteration++) {
      const requestId = `resume-${iteration}`;
      const first = await WsTestClient.connect(server.wsUrl);
      first.send({ query: "count", session_id: "resume-test", request_id: requestId });
      const dropAfter = 1 + Math.floor(Math.random() * CHUNKS);
      const seen: Frame[] = [];
      while (seen.length < dropAfter) seen.push(await first.next());
      first.socket.close(DROP, "network drop");
      await first.closed();

      const second = await WsTestClient.connect(server.wsUrl);
      const lastSeq = seen.at(-1)!.seq as number;
      second.send({ type: "resume", request_id: requestId, last_seq: lastSeq });
      const rest = await readUntilDone(second);
      await second.close();
      assertWholeAnswer([...seen, ...rest]);
    }
  } finally {
    await server.close();
  }
});

Deno.test("WS resume of an unknown answer gets not_found, and a clean close cancels", async () => {
  const agent = hangingAgent();
  const server = await startServer({}, { agent });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ type: "resume", request_id: "never-started", last_seq: 3 });
    const reply = await client.next();
    assertEquals([reply.type, reply.code], ["error", "not_found"]);
    assertStringIncludes(String(reply.message), '"never-started"');
    client.send({ query: "long", request_id: "clean" });
    await client.until((f) => f.type === "content");
    await client.close(); // 1000: the user is done with it
    await agent.aborted;
  } finally {
    await server.close();
  }
});

Deno.test("a dropped answer is stopped when the grace period passes; its tail says so", async () => {
  const agent = hangingAgent();
  const server = await startServer({ RESUME_GRACE_MS: "100" }, { agent });
  try {
    const first = await WsTestClient.connect(server.wsUrl);
    first.send({ query: "long", request_id: "graceful" });
    const seen = await first.until((f) => f.type === "content");
    first.socket.close(DROP, "network drop");
    await agent.aborted;
    const second = await WsTestClient.connect(server.wsUrl);
    second.send({ type: "resume", request_id: "graceful", last_seq: seen.at(-1)!.seq });
    const rest = await readUntilDone(second);
    await second.close();
    assertEquals(rest.at(-1)?.type, "done");
    assertEquals(rest.at(-1)?.finish_reason, "cancelled");
  } finally {
    await server.close();
  }
});

Deno.test("SSE resume with Last-Event-ID replays exactly the missing events", async () => {
  const server = await startServer(SLOW);
  try {
    const abort = new AbortController();
    const url = `${server.url}/agent_chat_stream?query=count&session_id=sse-resume`;
    const first = await fetch(url, { signal: abort.signal });
    const seen: Frame[] = [];
    let lastId = "";
    for await (const event of sseEvents(first)) {
      seen.push(event.json);
      lastId = event.id!;
      if (seen.length === 17) break;
    }
    abort.abort();
    const second = await fetch(url, { headers: { "Last-Event-ID": lastId } });
    const rest: Frame[] = [];
    for await (const event of sseEvents(second)) {
      assertEquals(event.id, `${event.json.request_id}:${event.json.seq}`);
      rest.push(event.json);
    }
    assertWholeAnswer([...seen, ...rest]);
  } finally {
    await server.close();
  }
});

Deno.test("AI SDK: reconnectToStream replays a dropped answer from the start", async () => {
  const server = await startServer(SLOW);
  const transport = new WebSocketChatTransport({ url: server.wsUrl });
  try {
    // Start the answer as the AI SDK would, then lose the socket.
    const raw = await WsTestClient.connect(server.wsUrl);
    raw.send({
      type: "send",
      requestId: "first-request",
      id: "aisdk-resume",
      trigger: "submit-message",
      messageId: undefined,
      messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "count" }] }],
      headers: {},
      body: {},
    });
    await raw.until((f) => (f.chunk as Frame | undefined)?.type === "text-delta");
    raw.socket.close(DROP, "network drop");

    const stream = await transport.reconnectToStream({ chatId: "aisdk-resume" });
    assert(stream, "an active answer resumes");
    const chunks: UIMessageChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assertEquals(chunks[0].type, "start");
    assertEquals(chunks.at(-1)?.type, "finish");
    const text = chunks.map((c) => c.type === "text-delta" ? c.delta : "").join("");
    assertEquals(text, "xxxx".repeat(CHUNKS));
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("two instances on one KV: resume on B an answer started on A, cancel on B stops A", async () => {
  const dir = await Deno.makeTempDir();
  const env = { ...SLOW, SYNTHETIC_CHUNKS: "400", KV_PATH: `${dir}/shared.kv` };
  const a = await spawnServer("deno", env);
  const b = await spawnServer("deno", env);
  try {
    // Resume on B.
    const onA = await WsTestClient.connect(a.wsUrl);
    onA.send({ query: "count", session_id: "two", request_id: "across" });
    const seen: Frame[] = [];
    while (seen.length < 10) seen.push(await onA.next());
    onA.socket.close(DROP, "network drop");
    const onB = await WsTestClient.connect(b.wsUrl);
    onB.send({ type: "resume", request_id: "across", last_seq: seen.at(-1)!.seq });
    const rest = await readUntilDone(onB);
    const frames = [...seen, ...rest];
    assertEquals(frames.map((f) => f.seq), frames.map((_, i) => i), "no gap, no duplicate");
    assertEquals(frames.filter((f) => f.type === "content").length, 400);
    assertEquals(frames.at(-1)?.finish_reason, "stop");

    // Cancel on B.
    const again = await WsTestClient.connect(a.wsUrl);
    again.send({ query: "count", session_id: "two", request_id: "stop-me" });
    const started: Frame[] = [];
    while (started.length < 5) started.push(await again.next());
    again.socket.close(DROP, "network drop");
    onB.send({ type: "cancel", request_id: "stop-me" });
    onB.send({ type: "resume", request_id: "stop-me", last_seq: started.at(-1)!.seq });
    const tail = await readUntilDone(onB);
    assertEquals(tail.at(-1)?.type, "done");
    assertEquals(tail.at(-1)?.finish_reason, "cancelled");
    assert(
      tail.filter((f) => f.type === "content").length + 4 < 400,
      "A stopped producing long before the end",
    );
    await onB.close();
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("upload a text file over binary frames, then ask about it", async () => {
  const server = await startServer();
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    const text = "# Notes\n\nThe launch code is tangerine.\n\n## Other\n\nNothing else here.\n";
    const bytes = new TextEncoder().encode(text);
    client.send({
      type: "upload",
      upload_id: "notes",
      name: "notes.md",
      mime: "text/markdown",
      size: bytes.length,
      session_id: "uploader",
    });
    client.socket.send(bytes.slice(0, 10));
    client.socket.send(bytes.slice(10));
    const uploaded = await client.next();
    assertEquals(uploaded, {
      type: "uploaded",
      upload_id: "notes",
      session_id: "uploader",
      name: "notes.md",
      mime: "text/markdown",
      size: bytes.length,
    });
    client.send({
      query: "what is the launch code?",
      session_id: "uploader",
      attachments: ["notes"],
    });
    const frames = await client.answer();
    const call = frames.find((f) => f.type === "tool_call");
    assertEquals(call?.name, "read_attachment");
    const answer = frames.filter((f) => f.type === "content").map((f) => f.content).join("");
    assertStringIncludes(answer, "tangerine");
    assertStringIncludes(answer, "notes.md");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("bad uploads get specific errors and the socket stays usable", async (t) => {
  const server = await startServer({ UPLOAD_MAX_BYTES: "1000" });
  const client = await WsTestClient.connect(server.wsUrl);
  const header = (extra: Frame) => ({
    type: "upload",
    upload_id: "u",
    name: "f.txt",
    mime: "text/plain",
    size: 4,
    session_id: "bad-uploads",
    ...extra,
  });
  const expectError = async (code: string, words: string, uploadId?: string) => {
    const reply = await client.next();
    assertEquals([reply.type, reply.code], ["error", code], JSON.stringify(reply));
    assertStringIncludes(String(reply.message), words);
    assertEquals(reply.upload_id, uploadId);
  };
  try {
    await t.step("too large", async () => {
      client.send(header({ size: 5000 }));
      await expectError("upload_too_large", "limit is 1000", "u");
    });
    await t.step("unsupported media type", async () => {
      client.send(header({ mime: "application/x-msdownload" }));
      await expectError("unsupported_media", "application/x-msdownload", "u");
    });
    await t.step("binary frame with no upload announced", async () => {
      client.socket.send(new Uint8Array([1, 2, 3]));
      await expectError("binary_unsupported", "announce the file");
    });
    await t.step("more bytes than announced", async () => {
      client.send(header({}));
      client.socket.send(new Uint8Array([65, 66, 67, 68, 69]));
      await expectError("upload_invalid", "more than the announced 4 bytes", "u");
    });
    await t.step("text that is not UTF-8", async () => {
      client.send(header({ size: 2 }));
      client.socket.send(new Uint8Array([0xff, 0xfe]));
      await expectError("upload_invalid", "not valid UTF-8", "u");
    });
    await t.step("a query naming an unknown upload", async () => {
      client.send({ query: "read it", session_id: "bad-uploads", attachments: ["missing"] });
      await expectError("not_found", '"missing"');
    });
    await t.step("attachments without a session id", async () => {
      client.send({ query: "read it", attachments: ["u"] });
      await expectError("invalid_frame", '"session_id"');
    });
    client.send({ type: "ping", id: "still" });
    assertEquals(await client.next(), { type: "pong", id: "still" });
  } finally {
    await client.close();
    await server.close();
  }
});
