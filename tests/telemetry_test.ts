/**
 * Traces and metrics recorded by OpenTelemetry SDK in-memory exporters
 * while a real server answers over a real WebSocket and SSE: the answer's
 * span and its children, the socket's span, trace context from
 * `traceparent`, resume and cancel events, and the metrics by transport.
 */
import { assert, assertEquals, assertExists, assertGreater } from "@std/assert";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { memoryTelemetry } from "./helpers/telemetry.ts";
import { startServer } from "./helpers/server.ts";
import { readSse, sseEvents } from "./helpers/sse_client.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN = "b7ad6b7169203331";
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN}-01`;
const SLOW = {
  AGENT: "synthetic",
  SYNTHETIC_CHUNKS: "300",
  SYNTHETIC_INTERVAL_MS: "5",
  RESUME_GRACE_MS: "10000",
};

function named(spans: ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((span) => span.name === name);
}

function answerSpan(spans: ReadableSpan[], requestId: string): ReadableSpan {
  const found = named(spans, "chat.answer").find((span) =>
    span.attributes["chat.request_id"] === requestId
  );
  assertExists(found, `no chat.answer span for "${requestId}"`);
  return found;
}

/** Spans end after the client saw the last frame: wait for them (bounded by the test runner). */
async function until<T>(read: () => T | undefined): Promise<T> {
  while (true) {
    const value = read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits until `check` holds (the server sees a close after the client). */
async function settled(check: () => Promise<boolean>): Promise<void> {
  while (!await check()) await new Promise((resolve) => setTimeout(resolve, 10));
}

Deno.test("telemetry: a WebSocket answer with a tool call is one trace from traceparent to the tool", async () => {
  const memory = memoryTelemetry();
  const server = await startServer({}, { telemetry: memory.telemetry });
  try {
    const client = await WsTestClient.connect(server.wsUrl, {
      headers: { traceparent: TRACEPARENT },
    });
    client.send({ query: "what is 12 * (3 + 4)?", session_id: "otel-ws", request_id: "otel-1" });
    const frames = await client.answer();
    assertEquals(frames.at(-1)!.type, "done");
    client.socket.close(1000, "bye");
    await client.closed();
    const ws = await until(() => named(memory.spans(), "chat.ws")[0]);
    const answer = answerSpan(memory.spans(), "otel-1");

    assertEquals(ws.spanContext().traceId, TRACE_ID);
    assertEquals(ws.parentSpanContext?.spanId, PARENT_SPAN);
    assertEquals(ws.attributes["chat.ws.close_code"], 1000);
    assertEquals(answer.spanContext().traceId, TRACE_ID);
    assertEquals(answer.parentSpanContext?.spanId, ws.spanContext().spanId);
    assertEquals(answer.attributes["chat.transport"], "ws");
    assertEquals(answer.attributes["chat.dialect"], "native");
    assertEquals(answer.attributes["chat.agent"], "demo");
    assertEquals(answer.attributes["chat.session_id"], "otel-ws");
    assertEquals(answer.attributes["chat.finish_reason"], "stop");
    assertEquals(answer.attributes["chat.chunks"], frames.length - 2);
    assert(answer.events.some((event) => event.name === "first_chunk"));

    const agent = named(memory.spans(), "chat.agent")[0];
    assertEquals(agent.parentSpanContext?.spanId, answer.spanContext().spanId);
    const tool = named(memory.spans(), "chat.tool calculator")[0];
    assertExists(tool, "the calculator call has its span");
    assertEquals(tool.parentSpanContext?.spanId, agent.spanContext().spanId);
    assertEquals(tool.attributes["chat.tool.name"], "calculator");

    assertEquals(await memory.sum("chat_answers_started_total", { transport: "ws" }), 1);
    assertEquals(
      await memory.sum("chat_answers_finished_total", { transport: "ws", reason: "stop" }),
      1,
    );
    assertEquals(await memory.sum("chat_chunks_sent_total", { transport: "ws" }), frames.length);
    assertEquals(await memory.sum("chat_time_to_first_chunk_seconds", { transport: "ws" }), 1);
    assertEquals(await memory.sum("chat_answer_duration_seconds", { transport: "ws" }), 1);
    await settled(async () => await memory.sum("chat_connections_open", { transport: "ws" }) === 0);
    assertGreater(
      await memory.sum("chat_store_operation_seconds", { operation: "history.load" }),
      0,
    );
  } finally {
    await server.close();
    await memory.shutdown();
  }
});

Deno.test("telemetry: an SSE answer continues the request's traceparent and counts as sse", async () => {
  const memory = memoryTelemetry();
  const server = await startServer({}, { telemetry: memory.telemetry });
  try {
    const response = await fetch(
      `${server.url}/agent_chat_stream?query=hello&session_id=otel-sse`,
      {
        headers: { traceparent: TRACEPARENT },
      },
    );
    const events = await readSse(response);
    assertEquals(events.at(-1)!.json.type, "done");
    const requestId = events[0].json.request_id as string;
    const answer = await until(() =>
      named(memory.spans(), "chat.answer").find((s) =>
        s.attributes["chat.request_id"] === requestId
      )
    );
    assertEquals(answer.spanContext().traceId, TRACE_ID);
    assertEquals(answer.parentSpanContext?.spanId, PARENT_SPAN);
    assertEquals(answer.attributes["chat.transport"], "sse");
    assertEquals(answer.attributes["chat.finish_reason"], "stop");
    assertEquals(await memory.sum("chat_answers_started_total", { transport: "sse" }), 1);
    assertEquals(await memory.sum("chat_answers_started_total", { transport: "ws" }), 0);
    assertEquals(
      await memory.sum("chat_answers_finished_total", { transport: "sse", reason: "stop" }),
      1,
    );
    assertEquals(await memory.sum("chat_chunks_sent_total", { transport: "sse" }), events.length);
    await settled(async () =>
      await memory.sum("chat_connections_open", { transport: "sse" }) === 0
    );
  } finally {
    await server.close();
    await memory.shutdown();
  }
});

Deno.test("telemetry: a resume after a drop is an event on the answer's span and a counted resume", async () => {
  const memory = memoryTelemetry();
  const server = await startServer(SLOW, { telemetry: memory.telemetry });
  try {
    const first = await WsTestClient.connect(server.wsUrl);
    first.send({ query: "count", session_id: "otel-resume", request_id: "otel-r" });
    const seen = [await first.next(), await first.next(), await first.next()];
    first.socket.close(4000, "network drop");
    await first.closed();
    const second = await WsTestClient.connect(server.wsUrl);
    second.send({ type: "resume", request_id: "otel-r", last_seq: seen.at(-1)!.seq });
    const rest = await second.answer();
    assertEquals(rest.at(-1)!.type, "done");
    await second.close();
    const answer = await until(() =>
      named(memory.spans(), "chat.answer").find((s) => s.attributes["chat.request_id"] === "otel-r")
    );
    const resume = answer.events.find((event) => event.name === "resume");
    assertExists(resume, "the resume is an event of the answer's span");
    assertEquals(resume.attributes?.["chat.resume.after_seq"], seen.at(-1)!.seq);
    assertEquals(answer.attributes["chat.finish_reason"], "stop");
    assertEquals(
      await memory.sum("chat_resumes_total", { transport: "ws", outcome: "resumed" }),
      1,
    );
    assertEquals(named(memory.spans(), "chat.ws").length, 2, "one span per socket");
  } finally {
    await server.close();
    await memory.shutdown();
  }
});

Deno.test("telemetry: a cancel is an event on the answer's span, counted, and ends it cancelled", async () => {
  const memory = memoryTelemetry();
  const server = await startServer(SLOW, { telemetry: memory.telemetry });
  try {
    const client = await WsTestClient.connect(server.wsUrl);
    client.send({ query: "count", session_id: "otel-cancel", request_id: "otel-c" });
    await client.until((frame) => frame.type === "content");
    client.send({ type: "cancel", request_id: "otel-c" });
    const done = (await client.answer()).at(-1)!;
    assertEquals(done.finish_reason, "cancelled");
    await client.close();
    const answer = await until(() =>
      named(memory.spans(), "chat.answer").find((s) => s.attributes["chat.request_id"] === "otel-c")
    );
    assert(answer.events.some((event) => event.name === "cancel"));
    assertEquals(answer.attributes["chat.finish_reason"], "cancelled");
    assertEquals(await memory.sum("chat_cancels_total", { transport: "ws" }), 1);
    assertEquals(
      await memory.sum("chat_answers_finished_total", { transport: "ws", reason: "cancelled" }),
      1,
    );
  } finally {
    await server.close();
    await memory.shutdown();
  }
});

Deno.test("telemetry: an SSE resume with Last-Event-ID is counted as an sse resume", async () => {
  const memory = memoryTelemetry();
  const server = await startServer(SLOW, { telemetry: memory.telemetry });
  try {
    const url = `${server.url}/agent_chat_stream?query=count&session_id=otel-sse-resume`;
    const abort = new AbortController();
    let lastId = "";
    let n = 0;
    for await (const event of sseEvents(await fetch(url, { signal: abort.signal }))) {
      lastId = event.id!;
      if (++n === 3) break;
    }
    abort.abort();
    const rest = await readSse(await fetch(url, { headers: { "Last-Event-ID": lastId } }));
    assertEquals(rest.at(-1)!.json.type, "done");
    assertEquals(
      await memory.sum("chat_resumes_total", { transport: "sse", outcome: "resumed" }),
      1,
    );
  } finally {
    await server.close();
    await memory.shutdown();
  }
});
