/**
 * The hot path's shortcuts keep their guarantees: an agent that does not
 * read history starts without the history round trip (its turn is still
 * persisted), an agent that does gets its history, and WebSocket frames go
 * straight to the runtime's socket when it has a `send`.
 * @module
 */
import { assertEquals } from "@std/assert";
import { WSContext } from "hono/ws";
import type { AgentEvent, AgentRequest } from "../server/agents/types.ts";
import { ChatCore, type CoreEvent } from "../server/core.ts";
import { createLogger } from "../server/log.ts";
import type { SessionStore, Turn } from "../server/store/types.ts";
import { WsConnection } from "../server/transports/ws/mod.ts";
import { echoAgent } from "./helpers/agents.ts";
import { harness } from "./helpers/fake_ws.ts";

const TURN: Turn = { query: "before", answer: "a", finishReason: "stop", tools: [], at: 1 };

/** A store whose history load fails (and counts its calls); appends are kept. */
function brokenHistoryStore(): SessionStore & { loads: number; appended: Turn[] } {
  const store = {
    loads: 0,
    appended: [] as Turn[],
    load: () => {
      store.loads++;
      return Promise.reject(new Error("history unreachable"));
    },
    append: (_id: string, turn: Turn) => {
      store.appended.push(turn);
      return Promise.resolve();
    },
    truncate: () => Promise.resolve(),
    close: () => {},
  };
  return store;
}

async function runTurn(core: ChatCore): Promise<string[]> {
  const events: CoreEvent[] = [];
  await core.run({ query: "q", sessionId: "s" }, {
    signal: new AbortController().signal,
    emit: (event) => void events.push(event),
  });
  return events.map((e) => e.type);
}

Deno.test("an agent that does not read history streams without loading it; its turn is kept", async () => {
  const store = brokenHistoryStore();
  const agent = {
    name: "no-history",
    readsHistory: false,
    async *stream(request: AgentRequest): AsyncIterable<AgentEvent> {
      yield { type: "text-delta", delta: `turns seen: ${request.history.length}` };
    },
  };
  const core = new ChatCore({ agent, store, log: createLogger("silent") });
  assertEquals(await runTurn(core), ["start", "text-delta", "finish"]);
  assertEquals(store.loads, 0);
  assertEquals(store.appended.map((t) => t.answer), ["turns seen: 0"]);
});

Deno.test("an agent that reads history still gets it, and a failed load still ends the turn with unavailable", async () => {
  const broken = brokenHistoryStore();
  const failing = new ChatCore({ agent: echoAgent(), store: broken, log: createLogger("silent") });
  assertEquals(await runTurn(failing), ["start", "error"]);
  assertEquals(broken.loads, 1);
  const agent = echoAgent();
  const store: SessionStore = {
    load: () => Promise.resolve([TURN]),
    append: () => Promise.resolve(),
    truncate: () => Promise.resolve(),
    close: () => {},
  };
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
