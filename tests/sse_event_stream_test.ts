/**
 * The SSE transport in process: the event-stream encoder and heartbeat
 * wrapper, and the handler driven through `app.request()` over memory
 * stores (no network). `sse_test.ts` covers the endpoint end to end.
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { Hono } from "hono";
import { ConnectionRegistry } from "../server/connections.ts";
import { createLogger } from "../server/log.ts";
import { EventStream, formatLine, formatMessage } from "../server/transports/sse/event_stream.ts";
import { NativeEncoder, UiChunkEncoder } from "../server/encode.ts";
import { parseLastEventId, sseHandler } from "../server/transports/sse/handler.ts";
import { createSyntheticAgent } from "../server/agents/synthetic.ts";
import { echoAgent, hangingAgent } from "./helpers/agents.ts";
import { harness } from "./helpers/fake_ws.ts";

Deno.test("formatMessage writes retry, id and one data line per line", () => {
  assertEquals(formatMessage({ data: "x" }), "data: x\n\n");
  assertEquals(
    formatMessage({ id: "r:1", data: "{}", retry: 500 }),
    "retry: 500\nid: r:1\ndata: {}\n\n",
  );
  assertEquals(formatMessage({ data: "a\nb" }), "data: a\ndata: b\n\n");
  // A lone CR and CRLF end a line too (a reader would start a field there).
  assertEquals(formatMessage({ data: "a\rb\r\nc" }), "data: a\ndata: b\ndata: c\n\n");
  assertEquals(formatLine("{}", "r:1"), "id: r:1\ndata: {}\n\n");
  assertEquals(formatLine("[DONE]", undefined), "data: [DONE]\n\n");
});

Deno.test("every frame of either dialect is one line, whatever the agent said (what formatLine relies on)", () => {
  const hostile = [
    "a\nb",
    "a\rb",
    "a\r\nb",
    "\n\nevent: done\ndata: {}\n\n",
    "\u2028\u2029",
    "plain",
  ];
  const events = [
    { type: "start" as const, requestId: "r\n1", sessionId: "s\r1" },
    ...hostile.map((delta) => ({ type: "text-delta" as const, delta })),
    { type: "status" as const, message: "a\r\nb" },
    { type: "tool-call" as const, toolCallId: "t\n", toolName: "n\r", input: { x: "\n" } },
    {
      type: "tool-result" as const,
      toolCallId: "t\n",
      toolName: "n\r",
      output: "\r\n",
      isError: false,
    },
    { type: "finish" as const, reason: "stop" as const },
  ];
  const native = new NativeEncoder();
  const ui = new UiChunkEncoder("r\n1", { http: true });
  const frames: string[] = [];
  events.forEach((event, seq) => {
    frames.push(native.encode({ seq, event }));
    ui.write({ seq, event }, (frame) => frames.push(frame));
  });
  assert(frames.length > events.length);
  for (const frame of frames) {
    assert(!/[\r\n]/.test(frame), `frame has a line break: ${JSON.stringify(frame)}`);
    JSON.parse(frame);
  }
});

Deno.test("a quiet event stream sends heartbeats; a busy one does not", async () => {
  const stream = new EventStream({ heartbeatMs: 20, highWaterMark: 8 });
  const reader = stream.body.pipeThrough(new TextDecoderStream()).getReader();
  assertEquals((await reader.read()).value, ": ping\n\n");
  stream.send({ data: "hello" });
  assertEquals((await reader.read()).value, "data: hello\n\n");
  stream.close();
  let rest = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
  assert(!rest.includes("hello"));
  stream.send({ data: "after close" }); // dropped, no throw
});

Deno.test("an event stream hands messages sent while the reader is busy over as one chunk", async () => {
  const stream = new EventStream({ heartbeatMs: 60_000, highWaterMark: 3 });
  const reader = stream.body.getReader();
  const decode = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);
  // The reader waits: the first message goes out at once, alone.
  const first = reader.read();
  stream.send({ data: "1" });
  assertEquals(decode((await first).value), "data: 1\n\n");
  // The reader is busy: the next ones wait and leave together, in order.
  stream.send({ id: "r:2", data: "2" });
  stream.send({ id: "r:3", data: "3" });
  assert(!stream.full);
  stream.send({ id: "r:4", data: "4" });
  assert(stream.full, "three waiting messages reach the high-water mark");
  assertEquals(
    decode((await reader.read()).value),
    "id: r:2\ndata: 2\n\nid: r:3\ndata: 3\n\nid: r:4\ndata: 4\n\n",
  );
  assert(!stream.full);
  // Messages still waiting at close are delivered before the end.
  stream.send({ data: "last" });
  stream.close();
  assertEquals(decode((await reader.read()).value), "data: last\n\n");
  assert((await reader.read()).done);
});

Deno.test("an eager reader gets the first message of a turn at once and the rest of the turn together", async () => {
  const stream = new EventStream({ heartbeatMs: 60_000, highWaterMark: 4 });
  const reader = stream.body.getReader();
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  // Reads again as soon as it is handed a chunk, as Bun's response sink does.
  const reading = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      chunks.push(decoder.decode(r.value).replaceAll("data: ", "").replaceAll("\n\n", " ").trim());
    }
  })();
  const turn = () => new Promise((resolve) => setTimeout(resolve, 5));
  const microtasks = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  await turn();
  // One turn: once the reader showed it is eager, messages wait for the end of the turn,
  // or leave as a chunk of `highWaterMark` (4) messages.
  for (let i = 1; i <= 9; i++) {
    stream.send({ data: String(i) });
    await Promise.resolve();
  }
  await turn();
  assertEquals(chunks.join(" "), "1 2 3 4 5 6 7 8 9");
  assert(chunks.length <= 5, `9 messages of one turn in ${chunks.length} chunks`);
  // The first message of a turn leaves at once; the next one waits for the end of the turn.
  const before = chunks.length;
  stream.send({ data: "10" });
  await microtasks();
  assertEquals(chunks.slice(before), ["10"]);
  stream.send({ data: "11" });
  await microtasks();
  assertEquals(chunks.slice(before), ["10"]);
  await turn();
  assertEquals(chunks.slice(before), ["10", "11"]);
  stream.close();
  await reading;
});

Deno.test("Last-Event-ID parsing accepts <request_id>:<seq> only", () => {
  assertEquals(parseLastEventId("abc:12"), { requestId: "abc", lastSeq: 12 });
  assertEquals(parseLastEventId(" abc:0 "), { requestId: "abc", lastSeq: 0 });
  assertEquals(parseLastEventId("abc"), undefined);
  assertEquals(parseLastEventId("a b:1"), undefined);
  assertEquals(parseLastEventId(undefined), undefined);
});

async function events(response: Response, retries: number[] = []): Promise<EventSourceMessage[]> {
  const found: EventSourceMessage[] = [];
  const parser = createParser({
    onEvent: (event) => found.push(event),
    onRetry: (ms) => retries.push(ms),
  });
  for await (const text of response.body!.pipeThrough(new TextDecoderStream())) parser.feed(text);
  return found;
}

function app(h: ReturnType<typeof harness>, registry = new ConnectionRegistry()) {
  const logger = createLogger("silent");
  return new Hono().get("/", sseHandler({ hub: h.hub, config: h.config, registry, logger }));
}

Deno.test("the SSE handler streams an answer with ids and a first retry", async () => {
  const response = await app(harness(echoAgent())).request("/?query=hi");
  assertEquals(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const h = harness(echoAgent());
  const retries: number[] = [];
  const found = await events(response, retries);
  const frames = found.map((event) => JSON.parse(event.data));
  assertEquals(frames.map((f) => f.type), ["session", "content", "content", "done"]);
  assertEquals(retries, [h.config.SSE_RETRY_MS]);
  const requestId = frames[0].request_id;
  assertEquals(found.map((event) => event.id), frames.map((_, i) => `${requestId}:${i}`));
});

Deno.test("an SSE answer waits for the reader to take its first chunk: the burst behind it does not ride along", async () => {
  const agent = createSyntheticAgent({ chunks: 200, chunkBytes: 4, intervalMs: 0 });
  const response = await app(harness(agent)).request("/?query=hi");
  // However long the reader takes to start (the response passing the middleware), the burst waits.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const typesIn = (text: string) => [...text.matchAll(/"type":"(\w+)"/g)].map((m) => m[1]);
  const first = decoder.decode((await reader.read()).value);
  assertEquals(typesIn(first), ["session", "content"]);
  let rest = "";
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    rest += decoder.decode(read.value, { stream: true });
  }
  const types = typesIn(first + rest);
  assertEquals(types.length, 202);
  assertEquals(types.filter((type) => type === "content").length, 200);
  assertEquals(types.at(-1), "done");
  const seqs = [...(first + rest).matchAll(/"seq":(\d+)/g)].map((m) => Number(m[1]));
  assertEquals(seqs, Array.from({ length: 202 }, (_, i) => i));
});

Deno.test("the SSE handler refuses a bad query with the one error shape", async () => {
  const response = await app(harness(echoAgent())).request("/?query=");
  assertEquals(response.status, 400);
  const body = await response.json();
  assertEquals(typeof body.error.code, "string");
  assertStringIncludes(body.error.message, "query");
});

Deno.test("drain ends the SSE stream with no error event; the answer runs on for Last-Event-ID", async () => {
  const h = harness(hangingAgent());
  const registry = new ConnectionRegistry();
  const response = await app(h, registry).request("/?query=hi");
  const reading = events(response);
  while (registry.size === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const report = await registry.drain(2_000);
  assertEquals(report, { drained: 1, terminated: 0 });
  const received = await reading;
  assertEquals(received.map((e) => JSON.parse(e.data).type), ["session", "content"]);
  // Resumed by the id EventSource would send, the answer goes on to its end.
  const resumed = await app(h, new ConnectionRegistry()).request("/?query=hi", {
    headers: { "last-event-id": received.at(-1)!.id! },
  });
  const rest = events(resumed);
  await h.hub.stopAll();
  assertEquals(JSON.parse((await rest).at(-1)!.data).finish_reason, "cancelled");
});
