/**
 * The hot path's shortcuts keep their guarantees: an agent that does not
 * read history starts without the history round trip (its turn is still
 * persisted), an agent that does gets its history, and WebSocket frames go
 * straight to the runtime's socket when it has a `send`; a delta is quoted
 * without `JSON.stringify` when it needs no escape, byte for byte the same;
 * a batch of events an agent hands over at once keeps its order and stops
 * at a cancel; a long answer is stored cut, sent whole.
 * @module
 */
import { assertEquals } from "@std/assert";
import { WSContext } from "hono/ws";
import type { AgentEvent, AgentRequest, AgentYield } from "../server/agents/types.ts";
import { ChatCore, type CoreEvent } from "../server/core.ts";
import { TurnControl } from "../server/turn_control.ts";
import { createLogger } from "../server/log.ts";
import type { SessionStore, Turn } from "../server/store/types.ts";
import { WsConnection } from "../server/transports/ws/mod.ts";
import { echoAgent } from "./helpers/agents.ts";
import { harness } from "./helpers/fake_ws.ts";
import { openMemoryBackend } from "../server/store/memory.ts";

const TURN: Turn = { query: "before", answer: "a", finishReason: "stop", tools: [], at: 1 };

/** A memory session store with some methods replaced (every other one is the real one). */
function withMethods(
  replaced: Partial<SessionStore>,
): { store: SessionStore; real: SessionStore } {
  const real = openMemoryBackend({ window: 10, ttlMs: 60_000 }).history;
  const store = new Proxy(real, {
    get: (target, key) => {
      if (key in replaced) return replaced[key as keyof SessionStore];
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store, real };
}

/** A memory session store whose `load` is replaced. */
function withLoad(load: () => Promise<Turn[]>): { store: SessionStore; real: SessionStore } {
  return withMethods({ load });
}

/** A promise that never settles: a store that stopped answering. */
const never = <T>() => new Promise<T>(() => {});

/** A store whose history load fails, counting its calls. */
function brokenHistoryStore(): { store: SessionStore; real: SessionStore; loads: () => number } {
  let loads = 0;
  const stores = withLoad(() => {
    loads++;
    return Promise.reject(new Error("history unreachable"));
  });
  return { ...stores, loads: () => loads };
}

async function runTurn(core: ChatCore): Promise<string[]> {
  const events: CoreEvent[] = [];
  await core.run({ query: "q", sessionId: "s" }, {
    control: new TurnControl(),
    emit: (event) => void events.push(event),
  });
  return events.map((e) => e.type);
}

Deno.test("an agent that does not read history streams without loading it; its turn is kept", async () => {
  const broken = brokenHistoryStore();
  const agent = {
    name: "no-history",
    readsHistory: false,
    async *stream(request: AgentRequest): AsyncIterable<AgentEvent> {
      yield { type: "text-delta", delta: `turns seen: ${request.history.length}` };
    },
  };
  const core = new ChatCore({ agent, store: broken.store, log: createLogger("silent") });
  assertEquals(await runTurn(core), ["start", "text-delta", "finish"]);
  assertEquals(broken.loads(), 0);
  assertEquals((await broken.real.load("s")).map((t) => t.answer), ["turns seen: 0"]);
});

Deno.test("an agent that reads history still gets it, and a failed load still ends the turn with unavailable", async () => {
  const broken = brokenHistoryStore();
  const failing = new ChatCore({
    agent: echoAgent(),
    store: broken.store,
    log: createLogger("silent"),
  });
  assertEquals(await runTurn(failing), ["start", "error"]);
  assertEquals(broken.loads(), 1);
  const agent = echoAgent();
  const { store } = withLoad(() => Promise.resolve([TURN]));
  const core = new ChatCore({ agent, store, log: createLogger("silent") });
  assertEquals(await runTurn(core), ["start", "text-delta", "text-delta", "finish"]);
  assertEquals(agent.calls[0].history, [TURN]);
});

Deno.test("WebSocket frames go to the runtime socket's own send, not through the WSContext wrapper", async () => {
  const h = harness(echoAgent());
  const viaRaw: string[] = [];
  const viaWrapper: string[] = [];
  const context = new WSContext({
    send: (data) => void viaWrapper.push(String(data)),
    close: () => {},
    raw: { send: (data: string) => void viaRaw.push(data), bufferedAmount: 0 },
    readyState: 1,
  });
  const connection = new WsConnection(h.deps, context);
  connection.receive(JSON.stringify({ query: "hi", session_id: "s-raw" }));
  const done = (frames: string[]) => frames.some((f) => JSON.parse(f).type === "done");
  while (!done(viaRaw) && !done(viaWrapper)) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assertEquals(viaWrapper, []);
  assertEquals(viaRaw.map((f) => JSON.parse(f).type), ["session", "content", "content", "done"]);
  connection.close(1000);
});

Deno.test("a delta is quoted exactly as JSON.stringify quotes it, escapes and surrogates included", async () => {
  const { jsonStringBody } = await import("../server/encode.ts");
  const cases = [
    "",
    "plain text",
    'he said "hi"',
    "back\\slash",
    "line\nbreak\r\ttab",
    "\u0000\u001f\u007f",
    "é漢字 😀",
    "lone \ud83d high",
    "lone \udc00 low",
    "\u2028\u2029",
    "</script>",
  ];
  for (let code = 0; code < 0x10000; code += 7) cases.push(`a${String.fromCharCode(code)}b`);
  for (const text of cases) assertEquals(`"${jsonStringBody(text)}"`, JSON.stringify(text));
});

Deno.test("the session frame and the frames after it are JSON.stringify's, for any ids", async () => {
  const { NativeEncoder } = await import("../server/encode.ts");
  const ids = ["s1", crypto.randomUUID(), 'quo"te', "back\\slash", "nl\n", "é😀", "\ud800"];
  for (const sessionId of ids) {
    for (const requestId of ids) {
      const encoder = new NativeEncoder();
      const session = encoder.encode({ seq: 0, event: { type: "start", requestId, sessionId } });
      const expected = { type: "session", session_id: sessionId, request_id: requestId, seq: 0 };
      assertEquals(session, JSON.stringify(expected));
      const content = encoder.encode({ seq: 1, event: { type: "text-delta", delta: "x" } });
      assertEquals(
        content,
        JSON.stringify({ type: "content", content: "x", request_id: requestId, seq: 1 }),
      );
      const resumed = new NativeEncoder({ requestId, lastSeq: 1 });
      const done = resumed.encode({ seq: 2, event: { type: "finish", reason: "stop" } });
      assertEquals(
        done,
        JSON.stringify({ type: "done", finish_reason: "stop", request_id: requestId, seq: 2 }),
      );
    }
  }
});

Deno.test("a batch of ready events is sent in order; a cancel in the middle of it stops the rest", async () => {
  const batch: AgentEvent[] = ["a", "b", "c", "d"].map((delta) => ({ type: "text-delta", delta }));
  const agent = {
    name: "batch",
    async *stream(): AsyncIterable<AgentYield> {
      yield { type: "text-delta", delta: ">" };
      yield batch;
      yield batch;
    },
  };
  const { store, real } = withLoad(() => Promise.resolve([]));
  const core = new ChatCore({ agent, store, log: createLogger("silent") });
  const deltas: string[] = [];
  const control = new TurnControl();
  let last: CoreEvent | undefined;
  await core.run({ query: "q", sessionId: "s" }, {
    control,
    emit: (event) => {
      last = event;
      if (event.type !== "text-delta") return;
      deltas.push(event.delta);
      // The cancel lands in the middle of the second batch.
      if (deltas.length === 7) control.stop();
    },
  });
  assertEquals(deltas.join(""), ">abcdab");
  assertEquals(last, { type: "finish", reason: "cancelled" });
  assertEquals((await real.load("s")).map((t) => t.answer), [">abcdab"]);
});

Deno.test("a store that stops answering ends the turn in bounded time: unavailable before the agent, finish after it", async () => {
  const log = createLogger("silent");
  const storeTimeoutMs = 50;
  const silentLoad = withMethods({ load: never });
  const before = new ChatCore({ agent: echoAgent(), store: silentLoad.store, log, storeTimeoutMs });
  const events: CoreEvent[] = [];
  await before.run({ query: "q", sessionId: "s" }, {
    control: new TurnControl(),
    emit: (event) => void events.push(event),
  });
  assertEquals(events.map((e) => e.type), ["start", "error"]);
  assertEquals((events[1] as { code: string }).code, "unavailable");

  const silentAppend = withMethods({ append: never });
  const after = new ChatCore({
    agent: echoAgent(),
    store: silentAppend.store,
    log,
    storeTimeoutMs,
  });
  assertEquals(await runTurn(after), ["start", "text-delta", "text-delta", "finish"]);
});

Deno.test("a long answer is sent whole and stored cut to its first 12,000 characters", async () => {
  // Deltas of 5,000 characters: the cut falls inside the third.
  const parts = ["a", "b", "c", "d"].map((c) => c.repeat(5_000));
  const agent = {
    name: "long",
    async *stream(): AsyncIterable<AgentYield> {
      for (const delta of parts) yield { type: "text-delta", delta };
    },
  };
  const { store, real } = withLoad(() => Promise.resolve([]));
  const core = new ChatCore({ agent, store, log: createLogger("silent") });
  let sent = "";
  await core.run({ query: "q", sessionId: "s" }, {
    control: new TurnControl(),
    emit: (event) => {
      if (event.type === "text-delta") sent += event.delta;
    },
  });
  assertEquals(sent, parts.join(""));
  assertEquals((await real.load("s")).map((t) => t.answer), [parts.join("").slice(0, 12_000)]);
});

Deno.test("a query frame decodes exactly as its zod schema decodes it, accepted or refused", async () => {
  const { decodeClientFrame, QueryFrame } = await import("../protocol/frames.ts");
  const absent = Symbol("absent");
  const types = [absent, "query", "Query", null, 1];
  const queries = [
    absent,
    "hi",
    "  hi \n",
    "   ",
    "",
    5,
    "x".repeat(8_000),
    ` ${"x".repeat(8_000)} `,
    "x".repeat(8_001),
    "a\nb",
  ];
  const ids = [absent, "s1", "a_B-9", "bad id", "", "x".repeat(64), "x".repeat(65), 7, null];
  const extras = [{}, { attachments: ["u1"] }, { foo: 1 }];
  let accepted = 0;
  for (const type of types) {
    for (const query of queries) {
      for (const sessionId of ids) {
        for (const requestId of [absent, "r1", "bad id", 3]) {
          for (const extra of extras) {
            const frame: Record<string, unknown> = { ...extra };
            if (type !== absent) frame.type = type;
            if (query !== absent) frame.query = query;
            if (sessionId !== absent) frame.session_id = sessionId;
            if (requestId !== absent) frame.request_id = requestId;
            const text = JSON.stringify(frame);
            const decoded = decodeClientFrame(text);
            const expected = QueryFrame.safeParse(JSON.parse(text));
            if (type !== absent && type !== "query") continue; // another type: not a query frame
            assertEquals(decoded.ok, expected.success, text);
            if (decoded.ok && expected.success) {
              accepted++;
              assertEquals(JSON.stringify(decoded.frame), JSON.stringify(expected.data), text);
            }
          }
        }
      }
    }
  }
  assertEquals(accepted > 100, true);
});

Deno.test("SSE query parameters decode exactly as their zod schema decodes them", async () => {
  const { decodeSseQuery, QueryFrame } = await import("../protocol/frames.ts");
  const queries = [null, undefined, "hi", "  hi ", " ", "", "x".repeat(8_000), "x".repeat(8_001)];
  const ids = [null, undefined, "", "s1", "bad id", "x".repeat(65)];
  let accepted = 0;
  for (const query of queries) {
    for (const session_id of ids) {
      for (const request_id of ids) {
        const decoded = decodeSseQuery({ query, session_id, request_id });
        const expected = QueryFrame.safeParse({
          query: query ?? undefined,
          session_id: session_id || undefined,
          request_id: request_id || undefined,
        });
        const label = JSON.stringify({ query, session_id, request_id });
        assertEquals(decoded.ok, expected.success, label);
        if (decoded.ok && expected.success) {
          accepted++;
          assertEquals(JSON.stringify(decoded.frame), JSON.stringify(expected.data), label);
        }
      }
    }
  }
  assertEquals(accepted > 20, true);
});

Deno.test("a turn's control: the first reason is kept, and the core's waiter is told of any stop, even an earlier one", () => {
  const control = new TurnControl();
  let told = 0;
  control.onStop(() => told++);
  assertEquals([control.stopped, told], [false, 0]);
  control.stop("first");
  control.stop("second");
  assertEquals([control.stopped, control.signal.aborted, control.signal.reason], [
    true,
    true,
    "first",
  ]);
  assertEquals(told, 2);
  const early = new TurnControl();
  early.stop();
  let late = 0;
  early.onStop(() => late++);
  assertEquals(late, 1);
});
