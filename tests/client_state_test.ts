/**
 * Unit tests of the chat controller: frames folded into signals, metrics,
 * stop, new chat, transport switch and persistence, over a fake transport.
 */
import { signal } from "@preact/signals";
import { assert, assertEquals } from "@std/assert";
import { ChatController } from "../client/chat_state.ts";
import type { AnswerMetrics } from "../client/metrics.ts";
import type {
  AnswerHandlers,
  Ask,
  ChatTransport,
  ConnectionState,
  TransportKind,
  Uploaded,
  UploadFile,
} from "../client/transport/mod.ts";
import { UploadFailed } from "../client/transport/mod.ts";

class FakeTransport implements ChatTransport {
  state: ConnectionState = "open";
  asks: { ask: Ask; handlers: AnswerHandlers; cancelled: boolean }[] = [];
  closed = false;
  listeners = new Set<(s: ConnectionState) => void>();
  uploads: {
    file: UploadFile;
    uploadId: string;
    sessionId: string;
    resolve(): void;
    reject(code: string, message: string): void;
  }[] = [];
  constructor(readonly kind: TransportKind) {}
  get canUpload() {
    return this.kind === "ws";
  }
  upload(file: UploadFile, options: { uploadId: string; sessionId: string }) {
    return new Promise<Uploaded>((resolve, reject) => {
      this.uploads.push({
        file,
        ...options,
        resolve: () =>
          resolve({
            type: "uploaded",
            upload_id: options.uploadId,
            session_id: options.sessionId,
            name: file.name,
            mime: file.type,
            size: file.size,
          }),
        reject: (code, message) => reject(new UploadFailed(code, message)),
      });
    });
  }
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

Deno.test("ChatController ignores frames it already applied (seq)", () => {
  const { chat, last } = setup();
  chat.send("q");
  const frame = last().handlers.frame;
  frame({ type: "session", session_id: "id1", request_id: "id2", seq: 0 });
  frame({ type: "content", content: "one ", request_id: "id2", seq: 1 });
  frame({ type: "content", content: "two ", request_id: "id2", seq: 2 });
  // A resumed stream that overlaps what was shown.
  frame({ type: "content", content: "two ", request_id: "id2", seq: 2 });
  frame({ type: "content", content: "one ", request_id: "id2", seq: 1 });
  frame({ type: "content", content: "three", request_id: "id2", seq: 3 });
  frame({ type: "done", finish_reason: "stop", request_id: "id2", seq: 4 });
  assertEquals(chat.messages.value.at(-1)?.text.value, "one two three");
});

const file = (name: string, text: string, type = "text/plain") => new File([text], name, { type });
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("ChatController uploads an attachment at once, then names it in the query", async () => {
  const { chat, transports, last, saved } = setup();
  const attachment = chat.attach(file("notes.txt", "The code is tangerine."));
  assert(attachment);
  assertEquals(chat.attachments.value.map((a) => [a.name, a.size]), [["notes.txt", 22]]);
  const upload = transports[0].uploads[0];
  assertEquals([upload.uploadId, upload.sessionId], ["id2", "id1"]);
  assertEquals(saved, ["session=id1"], "the upload and the query share one session");
  assertEquals(attachment.status.value, "uploading");
  // Sent while uploading: the question waits for the upload.
  assert(chat.send("what is the code?"));
  assertEquals(chat.attachments.value, [attachment], "the chips stay for the whole chat");
  const message = chat.messages.value.at(-1)!;
  assertEquals(message.attachments, ["notes.txt"]);
  assertEquals(transports[0].asks.length, 0);
  assertEquals(message.activity.value, [{ kind: "status", message: "Uploading notes.txt…" }]);
  upload.resolve();
  await settle();
  assertEquals(attachment.status.value, "ready");
  assertEquals(last().ask, {
    query: "what is the code?",
    sessionId: "id1",
    requestId: "id3",
    attachments: ["id2"],
  });
  last().handlers.frame({ type: "done", finish_reason: "stop", request_id: "id3", seq: 1 });
  assert(!chat.busy.value);
  // The next question of the chat can read the file too; it is listed once.
  assert(chat.send("and again?"));
  assertEquals(last().ask.attachments, ["id2"]);
  assertEquals(chat.messages.value.at(-1)!.attachments, undefined);
  chat.newChat();
  assertEquals(chat.attachments.value, [], "a new chat starts without files");
});

Deno.test("ChatController shows an upload error and will not send until it is removed", async () => {
  const { chat, transports } = setup();
  const bad = chat.attach(file("tool.exe", "MZ", "application/x-msdownload"))!;
  transports[0].uploads[0].reject("unsupported_media", 'Media type "application/x-msdownload"');
  await settle();
  assertEquals(bad.status.value, "error");
  assertEquals(bad.error.value, 'Media type "application/x-msdownload"');
  assert(chat.attachmentFailed.value);
  assert(!chat.send("read it"), "a failed attachment blocks sending");
  chat.detach(bad.id);
  assert(!chat.attachmentFailed.value);
  assert(chat.send("read it"));
  assertEquals(transports[0].asks[0].ask.attachments, undefined);
});

Deno.test("ChatController refuses too large files locally and ends a question whose upload fails", async () => {
  const { chat, transports } = setup();
  const big = chat.attach({
    name: "big.txt",
    type: "text/plain",
    size: 300 * 1024,
    arrayBuffer: () => Promise.resolve(new ArrayBuffer(0)),
  })!;
  await settle();
  assertEquals(big.status.value, "error");
  assertEquals(big.error.value, '"big.txt" is 300.0 KB; the limit is 256.0 KB');
  assertEquals(transports[0].uploads.length, 0, "nothing was sent");
  chat.detach(big.id);
  chat.attach(file("a.txt", "a"));
  assert(chat.send("q"));
  transports[0].uploads[0].reject("connection_lost", "Connection lost during the upload");
  await settle();
  const message = chat.messages.value.at(-1)!;
  assertEquals(message.state.value, "error");
  assertEquals(
    message.error.value,
    'Cannot send: "a.txt" was not uploaded: Connection lost during the upload',
  );
  assertEquals(transports[0].asks.length, 0);
});

Deno.test("ChatController cannot attach over SSE and drops attachments when switching to it", () => {
  const { chat } = setup();
  chat.attach(file("a.txt", "a"));
  assert(chat.canAttach.value);
  chat.setTransport("sse");
  assertEquals(chat.attachments.value, []);
  assert(!chat.canAttach.value);
  assertEquals(chat.attach(file("b.txt", "b")), undefined);
});

Deno.test("ChatController Stop while an upload runs ends the question unsent", async () => {
  const { chat, transports } = setup();
  chat.attach(file("a.txt", "a"));
  chat.send("q");
  chat.stop();
  assertEquals(chat.messages.value.at(-1)?.state.value, "cancelled");
  assert(!chat.busy.value);
  transports[0].uploads[0].resolve();
  await settle();
  assertEquals(transports[0].asks.length, 0, "the question never went out");
});
