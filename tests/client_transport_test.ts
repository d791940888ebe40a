/**
 * Unit tests of the browser transport module: frame decoding, backoff with
 * full jitter, WebSocket reconnects and the SSE transport, with fake
 * sockets and fake timers (no network, no clocks).
 */
import { assert, assertEquals, assertLess, assertRejects, assertStringIncludes } from "@std/assert";
import { backoffDelay } from "../client/backoff.ts";
import { decodeFrame } from "../client/codec.ts";
import {
  type AnswerHandlers,
  Answers,
  INTERRUPTED_MESSAGE,
  LOST_MESSAGE,
  mimeOf,
  SeqGate,
  SseTransport,
  type Timers,
  UPLOAD_ACCEPT,
  UPLOAD_CHUNK_BYTES,
  UploadFailed,
  WsTransport,
} from "../client/transport/mod.ts";
import type { ServerFrame } from "../protocol/frames.ts";

class FakeTimers implements Timers {
  queue: { id: number; fn: () => void; ms: number }[] = [];
  #next = 1;
  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++;
    this.queue.push({ id, fn, ms });
    return id;
  }
  clearTimeout(id: unknown): void {
    this.queue = this.queue.filter((t) => t.id !== id);
  }
  /** Runs the earliest timer; returns its delay. */
  runNext(): number {
    this.queue.sort((a, b) => a.ms - b.ms);
    const timer = this.queue.shift();
    if (!timer) throw new Error("No timer is pending");
    timer.fn();
    return timer.ms;
  }
}

class FakeWebSocket {
  static all: FakeWebSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  binary: Uint8Array[] = [];
  closedByClient = false;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeWebSocket.all.push(this);
  }
  send(data: string | Uint8Array) {
    if (this.readyState !== 1) throw new Error("Socket is not open");
    if (typeof data === "string") this.sent.push(data);
    else this.binary.push(data.slice());
  }
  /** The JSON frames the client sent. */
  frames(): Record<string, unknown>[] {
    return this.sent.map((t) => JSON.parse(t));
  }
  close() {
    this.closedByClient = true;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop() {
    this.readyState = 3;
    this.onclose?.();
  }
}

function recorder() {
  const frames: ServerFrame[] = [];
  const lost: string[] = [];
  const handlers: AnswerHandlers = {
    frame: (f) => frames.push(f),
    lost: (m) => lost.push(m),
  };
  return { frames, lost, handlers };
}

function newWs(timers = new FakeTimers()) {
  FakeWebSocket.all = [];
  const transport = new WsTransport({
    url: "ws://test/ws/chat",
    WebSocket: FakeWebSocket as unknown as new (url: string) => WebSocket,
    timers,
    backoff: { baseMs: 100, maxMs: 1_000, random: () => 0.5 },
    pingIntervalMs: 0,
  });
  return { transport, timers, socket: () => FakeWebSocket.all.at(-1)! };
}

Deno.test("decodeFrame accepts every server frame type", () => {
  const frames = [
    { type: "session", session_id: "s", request_id: "r", seq: 0 },
    { type: "content", content: "hi", request_id: "r", seq: 1 },
    { type: "status", message: "Thinking", request_id: "r", seq: 2 },
    {
      type: "tool_call",
      tool_call_id: "t",
      name: "calculator",
      input: { expression: "1+1" },
      request_id: "r",
      seq: 3,
    },
    {
      type: "tool_result",
      tool_call_id: "t",
      name: "calculator",
      output: 2,
      request_id: "r",
      seq: 4,
    },
    { type: "done", finish_reason: "stop", request_id: "r", seq: 5 },
    { type: "error", code: "busy", message: "Busy" },
    { type: "pong", id: 1 },
  ];
  for (const frame of frames) {
    const decoded = decodeFrame(JSON.stringify(frame));
    assert(decoded.ok, `${frame.type}: ${!decoded.ok && decoded.message}`);
    assertEquals(decoded.frame, frame);
  }
});

Deno.test("decodeFrame rejects bad frames with a message naming the problem", () => {
  const cases: [string, string][] = [
    ["not json", "Cannot decode frame: not valid JSON"],
    ["[1]", "Cannot decode frame: expected a JSON object"],
    ['{"type":"nope"}', 'Cannot decode frame: unknown type "nope"'],
    ['{"type":"toString"}', 'Cannot decode frame: unknown type "toString"'],
    [
      '{"type":"content","content":1,"request_id":"r","seq":0}',
      'Cannot decode frame: field "content" must be a string',
    ],
    [
      '{"type":"content","content":"x","request_id":"r","seq":-1}',
      'Cannot decode frame: field "seq" must be a non-negative integer',
    ],
    [
      '{"type":"done","finish_reason":"maybe","request_id":"r","seq":1}',
      'Cannot decode frame: field "finish_reason" must be "stop", "cancelled" or "error"',
    ],
  ];
  for (const [text, message] of cases) {
    const decoded = decodeFrame(text);
    assert(!decoded.ok, text);
    assertEquals(decoded.message, message);
  }
});

Deno.test("backoffDelay grows exponentially, is capped and fully jittered", () => {
  const top = (attempt: number) =>
    backoffDelay(attempt, { baseMs: 100, maxMs: 1_000, random: () => 0.999999 });
  assertEquals([0, 1, 2, 3, 4, 10].map(top), [99, 199, 399, 799, 999, 999]);
  assertEquals(backoffDelay(5, { random: () => 0 }), 0);
  // Full jitter: the whole [0, cap) range is used.
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(3, { baseMs: 100, maxMs: 10_000 });
    assert(d >= 0);
    assertLess(d, 800);
  }
  assertEquals(backoffDelay(1e9, { baseMs: 1, maxMs: 50, random: () => 0.5 }), 25);
});

Deno.test("WsTransport queues a query until open and keeps one socket for many turns", () => {
  const { transport, socket } = newWs();
  assertEquals(transport.state, "connecting");
  const a = recorder();
  transport.ask({ query: "one", sessionId: "s1", requestId: "r1" }, a.handlers);
  assertEquals(socket().sent, []);
  socket().open();
  assertEquals(transport.state, "open");
  assertEquals(socket().sent.map((t) => JSON.parse(t)), [
    { type: "query", query: "one", request_id: "r1", session_id: "s1" },
  ]);
  socket().receive({ type: "session", session_id: "s1", request_id: "r1", seq: 0 });
  socket().receive({ type: "content", content: "Hel", request_id: "r1", seq: 1 });
  socket().receive({ type: "content", content: "lo", request_id: "r1", seq: 2 });
  socket().receive({ type: "done", finish_reason: "stop", request_id: "r1", seq: 3 });
  assertEquals(a.frames.map((f) => f.type), ["session", "content", "content", "done"]);

  const b = recorder();
  transport.ask({ query: "two", sessionId: "s1", requestId: "r2" }, b.handlers);
  socket().receive({ type: "content", content: "x", request_id: "r1", seq: 9 });
  socket().receive({ type: "done", finish_reason: "stop", request_id: "r2", seq: 1 });
  assertEquals(b.frames.map((f) => f.type), ["done"]);
  assertEquals(a.frames.length, 4, "a finished answer gets no more frames");
  assertEquals(FakeWebSocket.all.length, 1);
  transport.close();
  assertEquals(transport.state, "closed");
});

Deno.test("WsTransport sends cancel for a running answer", () => {
  const { transport, socket } = newWs();
  socket().open();
  const a = recorder();
  const handle = transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  handle.cancel();
  assertEquals(JSON.parse(socket().sent[1]), { type: "cancel", request_id: "r1" });
  socket().receive({
    type: "done",
    finish_reason: "cancelled",
    cancelled: true,
    request_id: "r1",
    seq: 2,
  });
  assertEquals(a.frames.at(-1)?.type, "done");
  transport.close();
});

Deno.test("WsTransport ends an unsent query locally when cancelled", () => {
  const { transport, socket } = newWs();
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers).cancel();
  assertEquals(a.frames, [{
    type: "done",
    finish_reason: "cancelled",
    cancelled: true,
    request_id: "r1",
    seq: 0,
  }]);
  socket().open();
  assertEquals(socket().sent, [], "a cancelled query is never sent");
  transport.close();
});

Deno.test("WsTransport routes an error without request id to the running answer", () => {
  const { transport, socket } = newWs();
  socket().open();
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  socket().receive({ type: "error", code: "rate_limited", message: "Slow down" });
  assertEquals(a.frames.map((f) => f.type), ["error"]);
  socket().receive("garbage");
  socket().receive({ type: "pong", id: 1 });
  transport.close();
});

Deno.test("WsTransport reconnects after a drop with growing backoff and resumes the sent answer", () => {
  const { transport, timers, socket } = newWs();
  const states: string[] = [];
  transport.subscribe((s) => states.push(s));
  socket().open();
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  socket().drop();
  assertEquals(a.lost, [], "the answer waits to be resumed");
  assertEquals(transport.state, "reconnecting");
  // Attempts 0, 1, 2 with random 0.5: 50, 100, 200 ms.
  assertEquals(timers.runNext(), 50);
  assertEquals(FakeWebSocket.all.length, 2);
  socket().drop();
  assertEquals(timers.runNext(), 100);
  socket().drop();
  assertEquals(timers.runNext(), 200);
  socket().open();
  assertEquals(socket().frames(), [{ type: "resume", request_id: "r1", last_seq: -1 }]);
  assertEquals(transport.attempt, 0, "a successful open resets the backoff");
  socket().receive({ type: "done", finish_reason: "stop", request_id: "r1", seq: 5 });
  assertEquals(a.frames.map((f) => f.type), ["done"]);
  // A query asked while down waits and goes out on the new socket.
  socket().drop();
  assertEquals(timers.runNext(), 50);
  const b = recorder();
  transport.ask({ query: "again", requestId: "r2" }, b.handlers);
  socket().open();
  assertEquals(socket().frames()[0].request_id, "r2");
  assertEquals(a.lost, []);
  assertEquals(states.slice(0, 3), ["open", "reconnecting", "open"]);
  transport.close();
  assertEquals(timers.queue.length, 0, "close stops reconnecting");
});

Deno.test("WsTransport sends application pings while idle", () => {
  FakeWebSocket.all = [];
  const timers = new FakeTimers();
  const transport = new WsTransport({
    url: "ws://test/ws/chat",
    WebSocket: FakeWebSocket as unknown as new (url: string) => WebSocket,
    timers,
    pingIntervalMs: 1_000,
  });
  const ws = FakeWebSocket.all[0];
  ws.open();
  assertEquals(timers.runNext(), 1_000);
  assertEquals(JSON.parse(ws.sent[0]), { type: "ping", id: 1 });
  transport.close();
  assertEquals(timers.queue.length, 0);
});

class FakeEventSource {
  static all: FakeEventSource[] = [];
  closed = false;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeEventSource.all.push(this);
  }
  close() {
    this.closed = true;
  }
  emit(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

function newSse(fetchOk: () => boolean) {
  FakeEventSource.all = [];
  const timers = new FakeTimers();
  const probes: string[] = [];
  const posts: { url: string; body: unknown }[] = [];
  const transport = new SseTransport({
    baseUrl: "http://test/",
    EventSource: FakeEventSource as unknown as new (url: string) => EventSource,
    fetch: (input, init) => {
      if (init?.method === "POST") {
        posts.push({ url: String(input), body: JSON.parse(String(init.body)) });
        return Promise.resolve(new Response("{}"));
      }
      probes.push(String(input));
      return Promise.resolve(new Response("{}", { status: fetchOk() ? 200 : 503 }));
    },
    timers,
    backoff: { baseMs: 100, maxMs: 1_000, random: () => 0.5 },
  });
  return { transport, timers, probes, posts, source: () => FakeEventSource.all.at(-1)! };
}

Deno.test("SseTransport opens one stream per answer and closes it on done", () => {
  const { transport, source } = newSse(() => true);
  assertEquals(transport.state, "idle");
  const a = recorder();
  transport.ask({ query: "2 + 2?", sessionId: "s1", requestId: "r1" }, a.handlers);
  const url = new URL(source().url);
  assertEquals(url.pathname, "/agent_chat_stream");
  assertEquals(url.searchParams.get("query"), "2 + 2?");
  assertEquals(url.searchParams.get("session_id"), "s1");
  assertEquals(url.searchParams.get("request_id"), "r1", "the client names the answer");
  source().onopen?.();
  assertEquals(transport.state, "open");
  source().emit({ type: "content", content: "4", request_id: "x", seq: 1 });
  source().emit({ type: "done", finish_reason: "stop", request_id: "x", seq: 2 });
  assert(source().closed, "the stream is closed so the browser does not re-ask");
  assertEquals(transport.state, "idle");
  source().onerror?.();
  assertEquals(a.lost, [], "an error after done is ignored");
  assertEquals(a.frames.map((f) => f.type), ["content", "done"]);
});

Deno.test("SseTransport cancel asks the server to stop, closes the stream and ends the answer", () => {
  const { transport, source, posts } = newSse(() => true);
  const a = recorder();
  const handle = transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  source().emit({ type: "content", content: "x", request_id: "srv", seq: 3 });
  handle.cancel();
  assert(source().closed);
  assertEquals(posts, [{
    url: "http://test/agent_chat_stream/cancel",
    body: { request_id: "r1" },
  }]);
  assertEquals(a.frames.at(-1), {
    type: "done",
    finish_reason: "cancelled",
    cancelled: true,
    request_id: "r1",
    seq: 4,
  });
});

Deno.test("SseTransport probes with backoff after a drop until the server answers", async () => {
  let up = false;
  const { transport, timers, probes, source } = newSse(() => up);
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  source().onerror?.();
  assertEquals(a.lost, [LOST_MESSAGE]);
  assert(source().closed);
  assertEquals(transport.state, "reconnecting");
  assertEquals(timers.runNext(), 50);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(probes, ["http://test/healthz"]);
  assertEquals(transport.state, "reconnecting");
  up = true;
  assertEquals(timers.runNext(), 100);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(transport.state, "idle");
  transport.close();
});

Deno.test("WsTransport resumes a dropped answer: no gap, no duplicate", () => {
  const { transport, timers, socket } = newWs();
  socket().open();
  const a = recorder();
  transport.ask({ query: "count", sessionId: "s1", requestId: "r1" }, a.handlers);
  const content = (seq: number) => ({
    type: "content",
    content: `w${seq} `,
    request_id: "r1",
    seq,
  });
  socket().receive({ type: "session", session_id: "s1", request_id: "r1", seq: 0 });
  for (let seq = 1; seq <= 3; seq++) socket().receive(content(seq));
  socket().drop();
  assertEquals(transport.state, "reconnecting");
  timers.runNext();
  socket().open();
  assertEquals(socket().frames(), [{ type: "resume", request_id: "r1", last_seq: 3 }]);
  // The server replays from seq 4; an overlapping frame is dropped all the same.
  socket().receive(content(3));
  for (let seq = 4; seq <= 6; seq++) socket().receive(content(seq));
  socket().receive(content(5));
  socket().receive({ type: "done", finish_reason: "stop", request_id: "r1", seq: 7 });
  assertEquals(a.frames.map((f) => "seq" in f ? f.seq : undefined), [0, 1, 2, 3, 4, 5, 6, 7]);
  const text = a.frames.map((f) => f.type === "content" ? f.content : "").join("");
  assertEquals(text, "w1 w2 w3 w4 w5 w6 ");
  assertEquals(a.lost, []);
  transport.close();
  assertEquals(timers.queue.length, 0);
});

Deno.test("WsTransport resumes again after a second drop from the newest seq", () => {
  const { transport, timers, socket } = newWs();
  socket().open();
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  socket().receive({ type: "content", content: "a", request_id: "r1", seq: 0 });
  socket().drop();
  timers.runNext();
  socket().open();
  socket().receive({ type: "content", content: "b", request_id: "r1", seq: 1 });
  socket().drop();
  timers.runNext();
  socket().open();
  assertEquals(socket().frames(), [{ type: "resume", request_id: "r1", last_seq: 1 }]);
  transport.close();
});

Deno.test("WsTransport ends the answer as interrupted when the server cannot resume it", () => {
  const { transport, timers, socket } = newWs();
  socket().open();
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  socket().receive({ type: "content", content: "x", request_id: "r1", seq: 1 });
  socket().drop();
  timers.runNext();
  socket().open();
  socket().receive({
    type: "error",
    code: "not_found",
    message: 'Cannot resume: no answer with request_id "r1"',
    request_id: "r1",
  });
  assertEquals(a.lost, [INTERRUPTED_MESSAGE]);
  assertEquals(a.frames.length, 1);
  // A next question works on the same socket.
  const b = recorder();
  transport.ask({ query: "q2", requestId: "r2" }, b.handlers);
  assertEquals(socket().frames().at(-1)?.request_id, "r2");
  transport.close();
});

Deno.test("WsTransport ends a dropped answer as lost when no socket opens in time", () => {
  FakeWebSocket.all = [];
  const timers = new FakeTimers();
  const transport = new WsTransport({
    url: "ws://test/ws/chat",
    WebSocket: FakeWebSocket as unknown as new (url: string) => WebSocket,
    timers,
    backoff: { baseMs: 100, maxMs: 1_000, random: () => 0.5 },
    pingIntervalMs: 0,
    resumeTimeoutMs: 5_000,
  });
  const socket = () => FakeWebSocket.all.at(-1)!;
  socket().open();
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  socket().drop();
  timers.runNext(); // the reconnect attempt, which hangs
  assertEquals(a.lost, []);
  assertEquals(timers.runNext(), 5_000);
  assertEquals(a.lost, [LOST_MESSAGE]);
  socket().open();
  assertEquals(socket().sent, [], "nothing to resume any more");
  transport.close();
});

Deno.test("WsTransport cancel while reconnecting ends the answer and stops it on the server", () => {
  const { transport, timers, socket } = newWs();
  socket().open();
  const a = recorder();
  const handle = transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  socket().receive({ type: "content", content: "x", request_id: "r1", seq: 2 });
  socket().drop();
  handle.cancel();
  assertEquals(a.frames.at(-1), {
    type: "done",
    finish_reason: "cancelled",
    cancelled: true,
    request_id: "r1",
    seq: 3,
  });
  timers.runNext();
  socket().open();
  assertEquals(socket().frames(), [{ type: "cancel", request_id: "r1" }]);
  transport.close();
});

Deno.test("WsTransport sends attachments with the query", () => {
  const { transport, socket } = newWs();
  socket().open();
  transport.ask(
    { query: "read", sessionId: "s1", requestId: "r1", attachments: ["u1"] },
    recorder().handlers,
  );
  assertEquals(socket().frames(), [
    { type: "query", query: "read", request_id: "r1", session_id: "s1", attachments: ["u1"] },
  ]);
  transport.close();
});

Deno.test("WsTransport uploads a file as a header and 64 KiB binary frames", async () => {
  const { transport, socket } = newWs();
  const bytes = new Uint8Array(UPLOAD_CHUNK_BYTES * 2 + 10).map((_, i) => 97 + (i % 26));
  const uploaded = transport.upload(new File([bytes], "big.txt", { type: "text/plain" }), {
    uploadId: "u1",
    sessionId: "s1",
  });
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(socket().sent, [], "waits for the socket to open");
  socket().open();
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(socket().frames(), [{
    type: "upload",
    upload_id: "u1",
    name: "big.txt",
    mime: "text/plain",
    size: bytes.length,
    session_id: "s1",
  }]);
  assertEquals(socket().binary.map((b) => b.length), [UPLOAD_CHUNK_BYTES, UPLOAD_CHUNK_BYTES, 10]);
  const joined = new Uint8Array(bytes.length);
  let at = 0;
  for (const part of socket().binary) {
    joined.set(part, at);
    at += part.length;
  }
  assertEquals(joined, bytes);
  const frame = {
    type: "uploaded",
    upload_id: "u1",
    session_id: "s1",
    name: "big.txt",
    mime: "text/plain",
    size: bytes.length,
  };
  socket().receive({ ...frame, upload_id: "other" });
  socket().receive(frame);
  assertEquals(await uploaded, frame);
  transport.close();
});

Deno.test("WsTransport rejects an upload the server refuses, and one cut by a drop", async () => {
  const { transport, timers, socket } = newWs();
  socket().open();
  const refused = transport.upload(new File(["MZ"], "tool.exe"), {
    uploadId: "u1",
    sessionId: "s1",
  });
  // Uploads go one at a time: the second waits for the first.
  const cut = transport.upload(new File(["hello"], "b.md"), { uploadId: "u2", sessionId: "s1" });
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(socket().frames().map((f) => [f.upload_id, f.mime]), [
    ["u1", "application/octet-stream"],
  ]);
  socket().receive({
    type: "error",
    code: "unsupported_media",
    message: 'Cannot accept upload: media type "application/octet-stream" is not text',
  });
  const error = await refused.catch((e) => e);
  assert(error instanceof UploadFailed);
  assertEquals(error.code, "unsupported_media");
  assertStringIncludes(error.message, "application/octet-stream");
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(socket().frames().at(-1)?.mime, "text/markdown", "guessed from the extension");
  socket().drop();
  const lost = await cut.catch((e) => e);
  assert(lost instanceof UploadFailed);
  assertEquals([lost.code, lost.message], ["connection_lost", "Connection lost during the upload"]);
  const empty = await transport.upload(new File([], "e.txt"), { uploadId: "u3", sessionId: "s" })
    .catch((e) => e);
  assertEquals(empty.code, "upload_invalid");
  timers.runNext();
  transport.close();
});

Deno.test("WsTransport routes an error without request id to the upload, not the answer", async () => {
  const { transport, socket } = newWs();
  socket().open();
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  const upload = transport.upload(new File(["x"], "a.txt", { type: "text/plain" }), {
    uploadId: "u1",
    sessionId: "s1",
  });
  await new Promise((r) => setTimeout(r, 0));
  socket().receive({ type: "error", code: "upload_too_large", message: "Too large" });
  assertEquals((await upload.catch((e) => e)).code, "upload_too_large");
  assertEquals(a.frames, [], "the running answer goes on");
  transport.close();
});

Deno.test("mimeOf keeps the browser's type and guesses from the extension", () => {
  assertEquals(mimeOf({ name: "a.txt", type: "text/csv" }), "text/csv");
  assertEquals(mimeOf({ name: "Notes.MD", type: "" }), "text/markdown");
  assertEquals(mimeOf({ name: "data.json", type: "" }), "application/json");
  assertEquals(mimeOf({ name: "noext", type: "" }), "application/octet-stream");
});

Deno.test("SseTransport cannot upload", async () => {
  const { transport } = newSse(() => true);
  assertEquals(transport.canUpload, false);
  const error = await transport.upload().catch((e) => e);
  assert(error instanceof UploadFailed);
  assertEquals(error.message, "Attaching files needs the WebSocket transport");
});

Deno.test("SseTransport lets EventSource reconnect mid-answer and drops repeated events", () => {
  const { transport, timers, source } = newSse(() => true);
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  const es = source();
  es.onopen?.();
  es.emit({ type: "session", session_id: "s", request_id: "x", seq: 0 });
  es.emit({ type: "content", content: "one ", request_id: "x", seq: 1 });
  es.onerror?.(); // readyState CONNECTING: the browser reconnects with Last-Event-ID
  assertEquals(a.lost, []);
  assert(!es.closed, "the browser's reconnect is allowed mid-answer");
  assertEquals(transport.state, "reconnecting");
  es.onopen?.();
  assertEquals(transport.state, "open");
  es.emit({ type: "content", content: "one ", request_id: "x", seq: 1 });
  es.emit({ type: "content", content: "two", request_id: "x", seq: 2 });
  es.emit({ type: "done", finish_reason: "stop", request_id: "x", seq: 3 });
  assert(es.closed, "closed on done, so the question is never asked again");
  assertEquals(a.frames.map((f) => "seq" in f ? f.seq : undefined), [0, 1, 2, 3]);
  assertEquals(FakeEventSource.all.length, 1);
  assertEquals(transport.state, "idle");
  assertEquals(timers.queue.length, 0);
});

Deno.test("SseTransport ends a resumed answer the server no longer has as interrupted", () => {
  const { transport, source } = newSse(() => true);
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  source().emit({ type: "content", content: "one", request_id: "x", seq: 1 });
  source().onerror?.();
  source().emit({ type: "error", code: "not_found", message: "Cannot resume", request_id: "x" });
  assertEquals(a.lost, [INTERRUPTED_MESSAGE]);
  assert(source().closed);
});

Deno.test("SseTransport gives up on a stream that does not come back, or is closed for good", () => {
  const { transport, timers, source } = newSse(() => true);
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  source().emit({ type: "content", content: "one", request_id: "x", seq: 1 });
  source().onerror?.();
  source().onerror?.();
  assertEquals(timers.runNext(), 20_000);
  assertEquals(a.lost, [LOST_MESSAGE]);
  assert(source().closed);

  const b = recorder();
  transport.ask({ query: "q", requestId: "r2" }, b.handlers);
  source().emit({ type: "content", content: "one", request_id: "y", seq: 1 });
  (source() as unknown as { readyState: number }).readyState = 2;
  source().onerror?.();
  assertEquals(b.lost, [LOST_MESSAGE], "the browser gave up (HTTP error)");
  transport.close();
});

Deno.test("SeqGate passes new frames and frames without seq, drops repeats", () => {
  const gate = new SeqGate();
  const content = (seq: number): ServerFrame => ({
    type: "content",
    content: "x",
    request_id: "r",
    seq,
  });
  assertEquals([0, 1, 1, 0, 3, 2].map((seq) => gate.admit(content(seq))), [
    true,
    true,
    false,
    false,
    true,
    false,
  ]);
  assertEquals(gate.last, 3);
  assert(gate.admit({ type: "error", code: "busy", message: "Busy" }));
});

Deno.test("Answers: not_found is a frame before a drop and an interruption after it", () => {
  const answers = new Answers({ timers: new FakeTimers(), resumeTimeoutMs: 1_000 });
  const notFound: ServerFrame = { type: "error", code: "not_found", message: "No such request" };
  const a = recorder();
  answers.deliver(answers.open("r1", a.handlers, { phase: "streaming" }), notFound);
  assertEquals(a.frames, [notFound]);
  assertEquals(a.lost, []);
  const b = recorder();
  const answer = answers.open("r2", b.handlers, { phase: "streaming" });
  answers.suspend(answer);
  answers.resume(answer);
  assertEquals(answer.phase, "resumed");
  answers.deliver(answer, notFound);
  assertEquals(b.frames, []);
  assertEquals(b.lost, [INTERRUPTED_MESSAGE]);
  assertEquals(answers.size, 0);
});

Deno.test("Answers: the resume deadline ends a suspended answer once; resuming stops it", () => {
  const timers = new FakeTimers();
  const answers = new Answers({ timers, resumeTimeoutMs: 1_000 });
  const a = recorder();
  const kept = answers.open("r1", a.handlers, { phase: "streaming" });
  answers.suspend(kept);
  answers.suspend(kept); // a second drop report keeps the one deadline
  assertEquals(timers.queue.length, 1);
  answers.resume(kept);
  assertEquals(timers.queue.length, 0, "resuming clears the deadline");
  const b = recorder();
  let expired = 0;
  answers.suspend(answers.open("r2", b.handlers, { phase: "streaming" }), () => expired++);
  assertEquals(timers.runNext(), 1_000);
  assertEquals(b.lost, [LOST_MESSAGE]);
  assertEquals(expired, 1);
  assertEquals(a.lost, []);
});

Deno.test("Answers: cancel ends the answer after its last seq, once, and settles it", () => {
  const answers = new Answers({ timers: new FakeTimers(), resumeTimeoutMs: 1_000 });
  const a = recorder();
  const settled: string[] = [];
  const answer = answers.open("r1", a.handlers, {
    phase: "streaming",
    onSettle: (reason) => settled.push(reason),
  });
  answers.deliver(answer, { type: "content", content: "x", request_id: "r1", seq: 4 });
  answers.cancel(answer);
  answers.cancel(answer);
  answers.lose(answer, LOST_MESSAGE);
  assertEquals(a.frames.at(-1), {
    type: "done",
    finish_reason: "cancelled",
    cancelled: true,
    request_id: "r1",
    seq: 5,
  });
  assertEquals(a.frames.length, 2);
  assertEquals(a.lost, []);
  assertEquals(settled, ["cancel"]);
});

Deno.test("the file picker offers the protocol's image types and the guessable text files", () => {
  const offered = UPLOAD_ACCEPT.split(",");
  for (const type of ["image/png", "image/jpeg", "image/gif", "image/webp", "text/*", ".md"]) {
    assert(offered.includes(type), `accept lacks ${type}`);
  }
  assertEquals(mimeOf({ name: "photo.JPG", type: "" }), "image/jpeg");
  assertEquals(mimeOf({ name: "pic.webp", type: "" }), "image/webp");
});

Deno.test("signed in: every socket and stream connects with a fresh ticket; without one nothing connects", async () => {
  const { requestTicket, saveToken, withTicket } = await import("../client/auth.ts");
  const tickets: string[] = [];
  const fetchTicket: typeof fetch = (input, init) => {
    assertEquals(String(input), "http://test/auth/ticket");
    const auth = new Headers(init?.headers).get("authorization");
    if (auth !== "Bearer good-token") return Promise.resolve(new Response("{}", { status: 401 }));
    tickets.push(`t${tickets.length + 1}`);
    return Promise.resolve(Response.json({ ticket: tickets.at(-1), expires_in: 30 }));
  };
  await assertRejects(
    () => requestTicket("http://test", "bad-token", fetchTicket),
    Error,
    "refused",
  );
  const authorize = (url: string) =>
    withTicket(url, { origin: "http://test", required: true, fetch: fetchTicket });
  saveToken(undefined);
  await assertRejects(() => authorize("ws://test/ws/chat"), Error, "Sign in first");
  saveToken("good-token");
  try {
    FakeWebSocket.all = [];
    const timers = new FakeTimers();
    const ws = new WsTransport({
      url: "ws://test/ws/chat",
      WebSocket: FakeWebSocket as unknown as new (url: string) => WebSocket,
      timers,
      pingIntervalMs: 0,
      authorize,
    });
    await new Promise((resolve) => setTimeout(resolve, 0));
    assertEquals(FakeWebSocket.all.map((s) => s.url), ["ws://test/ws/chat?ticket=t1"]);
    ws.close();
    FakeEventSource.all = [];
    const sse = new SseTransport({
      baseUrl: "http://test",
      EventSource: FakeEventSource as unknown as new (url: string) => EventSource,
      timers,
      authorize,
    });
    sse.ask({ query: "q", requestId: "r1" }, recorder().handlers);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assertStringIncludes(FakeEventSource.all[0].url, "&ticket=t2");
    sse.close();
  } finally {
    saveToken(undefined);
  }
});
