/**
 * Hardening against a hostile agent or upstream (issue 17): a turn with
 * thousands of tool calls, events larger than a KV value. Real server
 * processes, a fake OpenAI-compatible upstream speaking the real wire format.
 */
import { assert, assertEquals } from "@std/assert";
import { ErrorCode } from "../protocol/codes.ts";
import type { Agent, AgentEvent } from "../server/agents/types.ts";
import { ChatCore, MAX_TOOL_CALLS_PER_TURN } from "../server/core.ts";
import { createLogger } from "../server/log.ts";
import { KvSessionStore, KvStreamLog } from "../server/store/kv.ts";
import type { LoggedEvent } from "../server/store/types.ts";
import { StreamHub } from "../server/streams/hub.ts";
import { LOG_ATTEMPTS } from "../server/streams/log_retry.ts";
import { startFakeOpenAi } from "./helpers/fake_openai.ts";
import { faultyLog } from "./helpers/faulty_log.ts";
import { startServer } from "./helpers/server.ts";
import { spawnServer } from "./helpers/spawn_server.ts";
import { within } from "./helpers/within.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

Deno.test("hostile upstream: 5,000 parallel tool calls end the turn with too_many_tool_calls; /healthz keeps answering", async () => {
  const upstream = startFakeOpenAi({ toolCalls: 5_000 });
  const server = await spawnServer("deno", {
    AGENT: "openai",
    OPENAI_BASE_URL: upstream.baseUrl,
    OPENAI_MODEL: "fake-model",
  });
  let polling = true;
  let answered = 0;
  let stuck: unknown;
  const probe = (async () => {
    while (polling) {
      const response = await fetch(`${server.url}/healthz`, {
        signal: AbortSignal.timeout(10_000),
      });
      assertEquals(response.status, 200);
      await response.body?.cancel();
      answered++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })().catch((error) => stuck = error);
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "add these up", session_id: "many-tools" });
    let frames: Record<string, unknown>[] = [];
    await within(client.answer().then((all) => frames = all), 30_000, "the end of the turn");
    assertEquals(stuck, undefined, "/healthz stopped answering during the turn");
    const last = frames.at(-1)!;
    const calls = frames.filter((f) => f.type === "tool_call").length;
    console.log(
      `5,000 tool calls offered: ${calls} forwarded, ended with ${last.type} ${last.code}, /healthz answered ${answered} times meanwhile`,
    );
    assertEquals(last.type, "error");
    assertEquals(last.code, ErrorCode.TooManyToolCalls);
    assert(calls <= 16, `Expected at most 16 tool calls forwarded, got ${calls}`);
    // The process is still serving: the next turn of the same session is answered.
    client.send({ query: "and now?", session_id: "many-tools" });
    await within(client.answer(), 30_000, "the next turn");
    polling = false;
    await probe;
    assertEquals(stuck, undefined, "/healthz stopped answering");
  } finally {
    polling = false;
    await client.close();
    await server.close();
    await upstream.close();
  }
});

Deno.test("hostile agent: tool calls past the per-turn limit end the turn with too_many_tool_calls", async () => {
  const agent: Agent = {
    name: "tool-happy",
    async *stream(): AsyncIterable<AgentEvent> {
      for (let i = 0; i < 1_000; i++) {
        yield { type: "tool-call", toolCallId: `c${i}`, toolName: "clock", input: {} };
        yield { type: "tool-result", toolCallId: `c${i}`, toolName: "clock", output: i };
      }
      yield { type: "text-delta", delta: "never sent" };
    },
  };
  const server = await startServer({}, { agent });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "loop", session_id: "tool-loop" });
    const frames = await client.answer();
    const calls = frames.filter((f) => f.type === "tool_call").length;
    const last = frames.at(-1)!;
    console.log(
      `1,000 sequential tool calls: ${calls} forwarded, ended with ${last.code}: ${last.message}`,
    );
    assertEquals(calls, MAX_TOOL_CALLS_PER_TURN);
    assertEquals(last.code, ErrorCode.TooManyToolCalls);
    assert(!frames.some((f) => f.content === "never sent"));
  } finally {
    await client.close();
    await server.close();
  }
});

/** An agent that says "a", waits for `release`, then calls a tool with a ~100 KB argument, says "b" and ends. */
function bigToolAgent(): Agent & { release(): void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  return {
    name: "big-tool",
    release: resolve,
    async *stream(): AsyncIterable<AgentEvent> {
      yield { type: "text-delta", delta: "a" };
      await promise;
      const input = { expression: "1+".repeat(50_000) + "1" };
      yield { type: "tool-call", toolCallId: "c1", toolName: "calculator", input };
      yield { type: "text-delta", delta: "b" };
    },
  };
}

Deno.test("stream log: a ~100 KB tool call dropped mid-answer is resumed on another instance whole, with the answer's real seq", async () => {
  const dir = await Deno.makeTempDir();
  const env = { KV_PATH: `${dir}/shared.kv` };
  const agent = bigToolAgent();
  const a = await startServer(env, { agent });
  const b = await startServer(env);
  try {
    const onA = await WsTestClient.connect(a.wsUrl);
    onA.send({ query: "big", session_id: "big-tool", request_id: "big-1" });
    const seen = [await onA.next(), await onA.next()];
    assertEquals(seen.map((f) => f.type), ["session", "content"]);
    onA.socket.close(4000, "network drop");
    await onA.closed();
    agent.release();
    const onB = await WsTestClient.connect(b.wsUrl);
    onB.send({ type: "resume", request_id: "big-1", last_seq: 1 });
    let rest: Record<string, unknown>[] = [];
    await within(onB.answer().then((frames) => rest = frames), 15_000, "the resumed answer");
    console.log(`resumed on B: ${rest.map((f) => `${f.type}#${f.seq}`).join(" ")}`);
    assertEquals(rest.map((f) => f.type), ["tool_call", "content", "done"]);
    assertEquals(rest.map((f) => f.seq), [2, 3, 4]);
    assertEquals(JSON.stringify(rest[0].input).length > 100_000, true);
    await onB.close();
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stream log: a log write that fails ends the answer's readers elsewhere with stream_lost, not a gap or a hang", async () => {
  const db = await Deno.openKv(":memory:");
  const logger = createLogger("silent");
  const options = {
    graceMs: 5_000,
    flushMs: 5,
    cancelPollMs: 10,
    logPollMs: 5,
    tailWaitMs: 50,
    leaseMs: 30_000,
    unknownWaitMs: 500,
  };
  const log = new KvStreamLog(db, { ttlMs: 60_000 });
  // The producing instance's store refuses the batch holding the big tool call.
  const refusing = faultyLog(log, {
    append: (events) =>
      events.some((item) => item.event.type === "tool-call")
        ? new TypeError("Value too large (max 65536 bytes)")
        : undefined,
  });
  const agent = bigToolAgent();
  const store = new KvSessionStore(db, { window: 10 });
  const hubA = new StreamHub(
    new ChatCore({ agent, store, log: logger }),
    refusing.log,
    logger,
    options,
  );
  const hubB = new StreamHub(
    new ChatCore({ agent: bigToolAgent(), store, log: logger }),
    log,
    logger,
    options,
  );
  try {
    const first: LoggedEvent[] = [];
    const subscriber = { deliver: (item: LoggedEvent) => void first.push(item) };
    const producer = hubA.start({ query: "q", sessionId: "s", requestId: "lost-1" }, subscriber);
    while (first.length < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    producer.unsubscribe(subscriber, true);
    agent.release();
    await producer.done;
    const second: LoggedEvent[] = [];
    const abort = new AbortController();
    const resumed = hubB.resume("lost-1", 1, { deliver: (item) => void second.push(item) }, {
      signal: abort.signal,
    });
    await within(resumed, 10_000, "the reader on the other instance").finally(() => abort.abort());
    const last = second.at(-1)?.event;
    console.log(`reader elsewhere got: ${second.map((i) => `${i.event.type}#${i.seq}`).join(" ")}`);
    assertEquals(last?.type, "error");
    assertEquals(last?.type === "error" && last.code, ErrorCode.StreamLost);
    // Tried a bounded number of times, then given up.
    assertEquals([...refusing.appends.values()].at(-1), LOG_ATTEMPTS);
  } finally {
    db.close();
  }
});

Deno.test("crashed producer: a cancel says it changed nothing; a resume ends interrupted and frees the socket", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/shared.kv`;
  const server = await startServer({ KV_PATH: path });
  const kv = await Deno.openKv(path);
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    // Another instance logged an answer, then died: its lease lapsed and was never renewed.
    const log = new KvStreamLog(kv, { ttlMs: 60_000 });
    await log.renew("dead-1", 1);
    await log.begin("dead-1", { sessionId: "s-dead", query: "the question" });
    await log.append("dead-1", [
      { seq: 0, event: { type: "start", requestId: "dead-1", sessionId: "s-dead" } },
      { seq: 1, event: { type: "text-delta", delta: "partial" } },
    ], false);
    await new Promise((resolve) => setTimeout(resolve, 10));

    client.send({ type: "cancel", request_id: "dead-1" });
    let refusal: Record<string, unknown> | undefined;
    await within(client.next().then((f) => refusal = f), 5_000, "an answer to the cancel");
    assertEquals([refusal?.type, refusal?.code, refusal?.request_id], [
      "error",
      ErrorCode.NotFound,
      "dead-1",
    ]);

    client.send({ type: "resume", request_id: "dead-1", last_seq: 0 });
    let tail: Record<string, unknown>[] = [];
    await within(client.answer().then((f) => tail = f), 10_000, "the end of the resumed answer");
    assertEquals(tail.map((f) => [f.type, f.seq]), [["content", 1], ["error", 2]]);
    assertEquals(tail.at(-1)?.code, ErrorCode.Interrupted);
    // The socket is free: the next question starts at once (not busy).
    client.send({ query: "hello again", session_id: "s-next" });
    let first: Record<string, unknown> | undefined;
    await within(client.next().then((f) => first = f), 10_000, "the next answer");
    assertEquals(first?.type, "session");
    await client.answer();
    console.log(
      `cancel of a dead answer: ${refusal?.message}; resumed tail ends ${tail.at(-1)?.code}`,
    );
  } finally {
    await client.close();
    await server.close();
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});
