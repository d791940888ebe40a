/**
 * Unit tests of the chat controller: frames folded into signals, metrics,
 * stop, new chat, transport switch and persistence, over a fake transport.
 */
import { signal } from "@preact/signals";
import { assert, assertEquals } from "@std/assert";
import { type AnswerMetrics, ChatController } from "../client/chat_state.ts";
import type {
  AnswerHandlers,
  Ask,
  ChatTransport,
  ConnectionState,
  TransportKind,
} from "../client/transport.ts";

class FakeTransport implements ChatTransport {
  state: ConnectionState = "open";
  asks: { ask: Ask; handlers: AnswerHandlers; cancelled: boolean }[] = [];
  closed = false;
  listeners = new Set<(s: ConnectionState) => void>();
  constructor(readonly kind: TransportKind) {}
  subscribe(listener: (s: ConnectionState) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  setState(state: ConnectionState) {
    this.state = state;
    for (const l of this.listeners) l(state);
  }
  ask(ask: Ask, handlers: AnswerHandlers) {
    const entry = { ask, handlers, cancelled: false };
    this.asks.push(entry);
    return { requestId: ask.requestId, cancel: () => entry.cancelled = true };
  }
  close() {
    this.closed = true;
  }
}

function setup(options: { transport?: TransportKind; sessionId?: string } = {}) {
  const transports: FakeTransport[] = [];
  const saved: string[] = [];
  let id = 0;
  let clock = 1_000;
  const metrics = signal<AnswerMetrics[]>([]);
  const chat = new ChatController({
    transport: options.transport ?? "ws",
    sessionId: options.sessionId,
    history: [{
      query: "earlier",
      answer: "before",
      finishReason: "stop",
      tools: ["calculator"],
    }],
    createTransport: (kind) => {
      const t = new FakeTransport(kind);
      transports.push(t);
      return t;
    },
    newId: () => `id${++id}`,
    now: () => clock,
    persistence: {
      saveSession: (s) => saved.push(`session=${s}`),
      saveTransport: (k) => saved.push(`transport=${k}`),
    },
    metrics,
  });
  chat.start();
  return {
    chat,
    transports,
    saved,
    metrics,
    tick: (ms: number) => clock += ms,
    last: () => transports.at(-1)!.asks.at(-1)!,
  };
}

Deno.test("ChatController streams an answer into signals and measures it", () => {
  const { chat, saved, metrics, tick, last } = setup();
  assertEquals(chat.messages.value.length, 1, "history is rendered");
  assert(chat.send("  what is 2+3*4  "));
  assertEquals(last().ask, { query: "what is 2+3*4", sessionId: "id1", requestId: "id2" });
  assertEquals(saved, ["session=id1"]);
  assert(chat.busy.value);
  assert(!chat.send("second while busy"), "one answer at a time");
  const frame = last().handlers.frame;
  frame({ type: "session", session_id: "id1", request_id: "id2", seq: 0 });
  frame({ type: "status", message: "Calculating", request_id: "id2", seq: 1 });
  frame({
    type: "tool_call",
    tool_call_id: "t1",
    name: "calculator",
    input: { expression: "2+3*4" },
    request_id: "id2",
    seq: 2,
  });
  frame({
    type: "tool_result",
    tool_call_id: "t1",
    name: "calculator",
    output: 14,
    request_id: "id2",
    seq: 3,
  });
  tick(40);
  frame({ type: "content", content: "It is ", request_id: "id2", seq: 4 });
  const message = chat.messages.value[1];
  assertEquals(message.text.value, "It is ");
  assertEquals(metrics.value.at(-1)?.ttfcMs, 40);
  assertEquals(metrics.value.at(-1)?.live, true);
  tick(500);
  frame({ type: "content", content: "**14**.", request_id: "id2", seq: 5 });
  frame({ type: "done", finish_reason: "stop", request_id: "id2", seq: 6 });
  assertEquals(message.text.value, "It is **14**.");
  assertEquals(message.state.value, "stop");
  assertEquals(message.activity.value, [
    { kind: "status", message: "Calculating" },
    {
      kind: "tool",
      id: "t1",
      name: "calculator",
      input: { expression: "2+3*4" },
      output: 14,
      isError: undefined,
      done: true,
    },
  ]);
  assert(!chat.busy.value);
  assertEquals(metrics.value, [{
    transport: "ws",
    chunks: 2,
    ttfcMs: 40,
    chunksPerSec: 2,
    live: false,
  }]);
});

Deno.test("ChatController stop cancels and the answer ends as cancelled", () => {
  const { chat, last } = setup();
  chat.send("long one");
  chat.stop();
  assert(last().cancelled);
  last().handlers.frame({
    type: "done",
    finish_reason: "cancelled",
    cancelled: true,
    request_id: "id2",
    seq: 3,
  });
  assertEquals(chat.messages.value.at(-1)?.state.value, "cancelled");
  assert(!chat.busy.value);
  assert(chat.send("next"), "a new question can follow");
});

Deno.test("ChatController shows errors and lost connections", () => {
  const { chat, last } = setup();
  chat.send("q1");
  last().handlers.frame({ type: "error", code: "agent_error", message: "The agent failed" });
  assertEquals(chat.messages.value.at(-1)?.state.value, "error");
  assertEquals(chat.messages.value.at(-1)?.error.value, "The agent failed");
  chat.send("q2");
  last().handlers.lost("Connection lost before the answer ended");
  assertEquals(
    chat.messages.value.at(-1)?.error.value,
    "Connection lost before the answer ended",
  );
  assert(!chat.busy.value);
});

Deno.test("ChatController new chat starts a fresh session and hides late frames", () => {
  const { chat, saved, last } = setup({ sessionId: "old" });
  chat.send("q");
  const running = last();
  chat.newChat();
  assert(running.cancelled);
  assertEquals(chat.messages.value, []);
  assertEquals(chat.sessionId.value, "id2");
  assertEquals(saved, ["session=id2"]);
  assert(chat.busy.value, "busy until the server confirms the cancel");
  running.handlers.frame({ type: "content", content: "late", request_id: "id1", seq: 1 });
  running.handlers.frame({ type: "done", finish_reason: "cancelled", request_id: "id1", seq: 2 });
  assert(!chat.busy.value);
  assertEquals(chat.messages.value, []);
  assert(chat.send("fresh"));
  assertEquals(last().ask.sessionId, "id2");
});

Deno.test("ChatController switching transport mid-answer ends it as cancelled", () => {
  const { chat, transports, last } = setup();
  chat.send("q");
  const running = last();
  chat.setTransport("sse");
  assert(running.cancelled);
  assert(transports[0].closed);
  assertEquals(chat.messages.value.at(-1)?.state.value, "cancelled");
  assert(!chat.busy.value);
  running.handlers.lost("Connection closed");
  assertEquals(chat.messages.value.at(-1)?.state.value, "cancelled");
});

Deno.test("ChatController switches transport, persists it and follows its state", () => {
  const { chat, transports, saved } = setup();
  assertEquals(chat.connection.value, "open");
  chat.setTransport("sse");
  assertEquals(chat.transportKind.value, "sse");
  assert(transports[0].closed, "the old transport is closed");
  assertEquals(transports[1].kind, "sse");
  assertEquals(saved, ["transport=sse"]);
  transports[0].setState("reconnecting");
  assertEquals(chat.connection.value, "open", "the old transport is ignored");
  transports[1].setState("reconnecting");
  assertEquals(chat.connection.value, "reconnecting");
  chat.send("via sse");
  assertEquals(transports[1].asks.length, 1);
});
