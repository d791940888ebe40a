/**
 * Hardening against a hostile agent or upstream (issue 17): a turn with
 * thousands of tool calls, events larger than a KV value. Real server
 * processes, a fake OpenAI-compatible upstream speaking the real wire format.
 */
import { assert, assertEquals } from "@std/assert";
import { ErrorCode } from "../protocol/codes.ts";
import type { Agent, AgentEvent } from "../server/agents/types.ts";
import { MAX_TOOL_CALLS_PER_TURN } from "../server/core.ts";
import { startFakeOpenAi } from "./helpers/fake_openai.ts";
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
