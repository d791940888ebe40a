import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import { ServerFrame } from "../protocol/frames.ts";
import type { Agent, AgentEvent } from "../server/agents/types.ts";
import { hangingAgent } from "./helpers/agents.ts";
import { SSE_BAD_QUERIES } from "./helpers/protocol_cases.ts";
import { startServer } from "./helpers/server.ts";
import { readSse, sseEvents } from "./helpers/sse_client.ts";

Deno.test("SSE streams the seed frames with id, retry and the right headers", async () => {
  const server = await startServer();
  try {
    const response = await fetch(
      `${server.url}/agent_chat_stream?query=${
        encodeURIComponent("what is 2+3*4")
      }&session_id=sse-1`,
    );
    assertEquals(response.status, 200);
    assertStringIncludes(
      response.headers.get("content-type")!,
      "text/event-stream",
    );
    assertEquals(response.headers.get("cache-control"), "no-cache");
    assertEquals(response.headers.get("x-accel-buffering"), "no");
    const events = await readSse(response);
    const frames = events.map((e) => ServerFrame.parse(e.json));
    assertEquals(frames[0].type, "session");
    assertEquals(frames.at(-1)?.type, "done");
    const requestId = events[0].json.request_id;
    events.forEach((event, seq) => assertEquals(event.id, `${requestId}:${seq}`));
    const text = frames.map((f) => f.type === "content" ? f.content : "").join(
      "",
    );
    assertStringIncludes(text, "**14**");
    assert(frames.some((f) => f.type === "tool_call"));
  } finally {
    await server.close();
  }
});

Deno.test("SSE sends a retry hint before the first event", async () => {
  const server = await startServer({ SSE_RETRY_MS: "1234" });
  try {
    const response = await fetch(`${server.url}/agent_chat_stream?query=hi`);
    const body = await response.text();
    assert(body.startsWith("retry: 1234\n"), body.slice(0, 40));
  } finally {
    await server.close();
  }
});

Deno.test("SSE rejects a missing or empty query with 400 JSON before any stream", async (t) => {
  const server = await startServer();
  try {
    for (const [name, search, code] of SSE_BAD_QUERIES) {
      await t.step(name, async () => {
        const response = await fetch(
          `${server.url}/agent_chat_stream${search}`,
        );
        assertEquals(response.status, 400);
        assertStringIncludes(
          response.headers.get("content-type")!,
          "application/json",
        );
        const body = await response.json();
        assertEquals(body.error.code, code);
        assertStringIncludes(body.error.message, "parameter");
      });
    }
  } finally {
    await server.close();
  }
});

Deno.test("aborting the SSE request stops the agent once the resume grace period passes", async () => {
  const agent = hangingAgent();
  const server = await startServer({ RESUME_GRACE_MS: "50" }, { agent });
  try {
    const abort = new AbortController();
    const response = await fetch(`${server.url}/agent_chat_stream?query=long`, {
      signal: abort.signal,
    });
    for await (const event of sseEvents(response)) {
      if (event.json.type === "content") break;
    }
    abort.abort();
    await agent.aborted;
  } finally {
    await server.close();
  }
});

Deno.test("SSE sends heartbeat comments while the agent is quiet", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  const quietAgent: Agent = {
    name: "quiet",
    async *stream(): AsyncIterable<AgentEvent> {
      await release;
      yield { type: "text-delta", delta: "finally" };
    },
  };
  const server = await startServer({ SSE_HEARTBEAT_MS: "100" }, {
    agent: quietAgent,
  });
  try {
    const response = await fetch(`${server.url}/agent_chat_stream?query=wait`);
    const reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    let seen = "";
    while (!seen.includes(": ping\n\n")) {
      const { value, done } = await reader.read();
      assert(!done, "stream ended before a heartbeat");
      seen += value;
    }
    resolve();
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    assertStringIncludes(seen, '"content":"finally"');
    assertGreater(seen.indexOf('"type":"done"'), seen.indexOf(": ping"));
  } finally {
    resolve();
    await server.close();
  }
});

Deno.test("content with newlines and SSE field names cannot forge events", async () => {
  const sneaky: Agent = {
    name: "sneaky",
    async *stream(): AsyncIterable<AgentEvent> {
      yield {
        type: "text-delta",
        delta: '\n\nevent: done\ndata: {"type":"done"}\n\n',
      };
    },
  };
  const server = await startServer({}, { agent: sneaky });
  try {
    const query = encodeURIComponent('\n\nevent: done\ndata: {"type":"done"}');
    const events = await readSse(
      await fetch(`${server.url}/agent_chat_stream?query=${query}`),
    );
    assertEquals(events.map((e) => e.json.type), [
      "session",
      "content",
      "done",
    ]);
    assert(events.every((e) => e.event === undefined));
    assertEquals(
      events[1].json.content,
      '\n\nevent: done\ndata: {"type":"done"}\n\n',
    );
  } finally {
    await server.close();
  }
});
