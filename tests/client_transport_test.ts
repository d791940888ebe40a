/**
 * Unit tests of the browser transport module: frame decoding, backoff with
 * full jitter, WebSocket reconnects and the SSE transport, with fake
 * sockets and fake timers (no network, no clocks).
 */
import { assert, assertEquals, assertLess } from "@std/assert";
import { backoffDelay } from "../client/backoff.ts";
import { decodeFrame } from "../client/codec.ts";
import {
  type AnswerHandlers,
  LOST_MESSAGE,
  SseTransport,
  type Timers,
  WsTransport,
} from "../client/transport.ts";
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
  closedByClient = false;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeWebSocket.all.push(this);
  }
  send(text: string) {
    if (this.readyState !== 1) throw new Error("Socket is not open");
    this.sent.push(text);
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

Deno.test("WsTransport reconnects after a drop with growing backoff and fails the sent answer", () => {
  const { transport, timers, socket } = newWs();
  const states: string[] = [];
  transport.subscribe((s) => states.push(s));
  socket().open();
  const a = recorder();
  transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  socket().drop();
  assertEquals(a.lost, [LOST_MESSAGE]);
  assertEquals(transport.state, "reconnecting");
  // Attempts 0, 1, 2 with random 0.5: 50, 100, 200 ms.
  assertEquals(timers.runNext(), 50);
  assertEquals(FakeWebSocket.all.length, 2);
  socket().drop();
  assertEquals(timers.runNext(), 100);
  socket().drop();
  assertEquals(timers.runNext(), 200);
  // A query asked while down waits and goes out on the new socket.
  const b = recorder();
  transport.ask({ query: "again", requestId: "r2" }, b.handlers);
  socket().open();
  assertEquals(JSON.parse(socket().sent[0]).request_id, "r2");
  assertEquals(transport.attempt, 0, "a successful open resets the backoff");
  socket().drop();
  assertEquals(timers.runNext(), 50);
  assertEquals(b.lost, [LOST_MESSAGE]);
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
  const transport = new SseTransport({
    baseUrl: "http://test/",
    EventSource: FakeEventSource as unknown as new (url: string) => EventSource,
    fetch: (input) => {
      probes.push(String(input));
      return Promise.resolve(new Response("{}", { status: fetchOk() ? 200 : 503 }));
    },
    timers,
    backoff: { baseMs: 100, maxMs: 1_000, random: () => 0.5 },
  });
  return { transport, timers, probes, source: () => FakeEventSource.all.at(-1)! };
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

Deno.test("SseTransport cancel closes the stream and ends the answer", () => {
  const { transport, source } = newSse(() => true);
  const a = recorder();
  const handle = transport.ask({ query: "q", requestId: "r1" }, a.handlers);
  source().emit({ type: "content", content: "x", request_id: "srv", seq: 3 });
  handle.cancel();
  assert(source().closed);
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
