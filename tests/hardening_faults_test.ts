/**
 * Hardening, faults: idle peers, hanging agents, dropped connections,
 * slow consumers (backpressure) and graceful shutdown. Real server, real sockets.
 */
import { assert, assertEquals, assertGreater, assertLess, assertStringIncludes } from "@std/assert";
import { CloseCode, ErrorCode, shouldReconnect } from "../protocol/codes.ts";
import type { Agent, AgentEvent } from "../server/agents/types.ts";
import { KvSessionStore } from "../server/store/kv.ts";
import { hangingAgent } from "./helpers/agents.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { startServer } from "./helpers/server.ts";
import { spawnServer } from "./helpers/spawn_server.ts";
import { within } from "./helpers/within.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

const MiB = 1024 * 1024;

/** An agent that never yields and ignores its abort signal (a hung upstream). */
function deafAgent(): Agent & { release(): void } {
  const { promise, resolve } = Promise.withResolvers<void>();
  return {
    name: "deaf",
    release: resolve,
    async *stream(): AsyncIterable<AgentEvent> {
      yield { type: "text-delta", delta: "started " };
      await promise;
    },
  };
}

Deno.test("faults: a WS peer that stops answering pings is closed within WS_IDLE_TIMEOUT_S and its agent aborted", async () => {
  const agent = hangingAgent();
  // A dropped peer's answer is kept for RESUME_GRACE_MS (tests/resume_test.ts); 0 aborts at once.
  const server = await startServer({ WS_IDLE_TIMEOUT_S: "1", RESUME_GRACE_MS: "0" }, { agent });
  const peer = await RawWs.connect(server.wsUrl); // never answers pings
  try {
    await peer.sendText(JSON.stringify({ query: "long" }));
    const ms = await within(agent.aborted, 10_000, "agent abort");
    const close = await peer.closeInfo();
    console.log(
      `idle peer: close ${close.code} "${close.reason}", agent aborted after ${ms.toFixed(0)} ms`,
    );
    assertEquals(close.code, CloseCode.GoingAway);
    assert(shouldReconnect(close.code));
  } finally {
    peer.close();
    await server.close();
  }
});

Deno.test("faults: a hung agent ends with a timeout error, the socket stays usable, SSE heartbeats go on", async () => {
  const agent = deafAgent();
  const server = await startServer({ AGENT_TIMEOUT_MS: "400", SSE_HEARTBEAT_MS: "100" }, { agent });
  const client = await WsTestClient.connect(server.wsUrl);
  try {
    client.send({ query: "hang" });
    const frames = await client.answer();
    const last = frames.at(-1)!;
    assertEquals(last.type, "error");
    assertEquals(last.code, ErrorCode.Timeout);
    console.log(`hung agent (WS): ${JSON.stringify(last)}`);
    client.send({ type: "ping", id: 1 });
    assertEquals(await client.next(), { type: "pong", id: 1 });
    const body = await (await fetch(`${server.url}/agent_chat_stream?query=hang`)).text();
    const heartbeat = body.indexOf(": ping");
    const timeout = body.indexOf('"code":"timeout"');
    assertGreater(heartbeat, 0, body);
    assertGreater(timeout, heartbeat, "heartbeats came before the timeout error");
  } finally {
    agent.release();
    await client.close();
    await server.close();
  }
});

Deno.test("faults: a TCP reset mid-answer aborts the agent promptly, with no send after it", async () => {
  const agent = hangingAgent();
  // A dropped peer's answer is kept for RESUME_GRACE_MS (tests/resume_test.ts); 0 aborts at once.
  const server = await startServer({ RESUME_GRACE_MS: "0" }, { agent });
  const peer = await RawWs.connect(server.wsUrl);
  try {
    await peer.sendText(JSON.stringify({ query: "long" }));
    assertEquals((await peer.nextJson())?.type, "session");
    assertEquals((await peer.nextJson())?.type, "content");
    peer.conn.setNoDelay(true);
    peer.close(); // no close frame: the server sees a reset/EOF
    const ms = await within(agent.aborted, 5_000, "agent abort after TCP drop");
    console.log(`TCP drop: agent aborted after ${ms.toFixed(0)} ms`);
    assertLess(ms, 5_000);
  } finally {
    await server.close();
  }
});

Deno.test("faults: a client that stops reading pauses the agent, memory stays bounded, then close 4008", async () => {
  let produced = 0;
  const big = "z".repeat(16 * 1024);
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const firehose: Agent = {
    name: "firehose",
    async *stream(_request, { signal }): AsyncIterable<AgentEvent> {
      // Up to 4 GiB if nothing pushed back.
      for (let i = 0; i < 256 * 1024 && !signal.aborted; i++) {
        produced++;
        yield { type: "text-delta", delta: big };
      }
      stop();
    },
  };
  const server = await startServer({
    WS_HIGH_WATER_BYTES: String(MiB),
    STALL_TIMEOUT_MS: "2000",
  }, { agent: firehose });
  const peer = await RawWs.connect(server.wsUrl);
  try {
    const before = Deno.memoryUsage().rss;
    await peer.sendText(JSON.stringify({ query: "everything" }));
    // Never read: the kernel buffers fill, then bufferedAmount grows.
    await within(stopped, 15_000, "agent stop after stall");
    const growth = Deno.memoryUsage().rss - before;
    console.log(
      `stalled reader: agent produced ${produced} chunks (${
        (produced * big.length / MiB).toFixed(0)
      } MiB) before the stall close; rss growth ${(growth / MiB).toFixed(0)} MiB`,
    );
    assertLess(produced, 4_096, "the agent was paused, not drained into memory");
    assertLess(growth, 300 * MiB);
    const close = await peer.closeInfo();
    assertEquals(close.code, CloseCode.SlowConsumer);
    assertStringIncludes(close.reason, "Slow consumer");
    assert(shouldReconnect(close.code));
  } finally {
    peer.close();
    await server.close();
  }
});

Deno.test("faults: an SSE client that stops reading pauses the agent and is cut after STALL_TIMEOUT_MS", async () => {
  let produced = 0;
  const big = "s".repeat(16 * 1024);
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const firehose: Agent = {
    name: "firehose",
    async *stream(_request, { signal }): AsyncIterable<AgentEvent> {
      for (let i = 0; i < 256 * 1024 && !signal.aborted; i++) {
        produced++;
        yield { type: "text-delta", delta: big };
      }
      stop();
    },
  };
  const server = await startServer({ STALL_TIMEOUT_MS: "1500" }, { agent: firehose });
  const url = new URL(server.url);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET /agent_chat_stream?query=all HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`,
      ),
    );
    await within(stopped, 15_000, "agent stop after SSE stall");
    console.log(`stalled SSE reader: agent produced ${produced} chunks before the cut`);
    assertLess(produced, 4_096);
  } finally {
    conn.close();
    await server.close();
  }
});

Deno.test("shutdown: a restart lets go of answers in flight (WS 1012, SSE ends), runs them to SHUTDOWN_TIMEOUT_MS, logs and persists them", async () => {
  const dir = await Deno.makeTempDir();
  const kvPath = `${dir}/kv.sqlite3`;
  const agent = hangingAgent("partial answer");
  const server = await startServer({ KV_PATH: kvPath, SHUTDOWN_TIMEOUT_MS: "3000" }, { agent });
  try {
    const client = await WsTestClient.connect(server.wsUrl);
    client.send({ query: "in flight", session_id: "drain-ws" });
    const seen = await client.until((f) => f.type === "content");
    const sse = await fetch(
      `${server.url}/agent_chat_stream?query=sse%20in%20flight&session_id=drain-sse`,
    );
    const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader();
    let sseText = "";
    while (!sseText.includes("partial answer")) sseText += (await reader.read()).value ?? "";
    const started = performance.now();
    await server.close();
    const took = performance.now() - started;
    const closed = await client.closed();
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      sseText += value;
    }
    console.log(`shutdown took ${took.toFixed(0)} ms; WS close ${closed.code} "${closed.reason}"`);
    // The socket is let go, not the answer: reconnect and resume, no error frame.
    assertEquals(closed.code, CloseCode.ServiceRestart);
    assertStringIncludes(closed.reason, "resume");
    assert(shouldReconnect(closed.code));
    assert(!sseText.includes("shutting_down"), sseText);
    assertStringIncludes(sseText, "retry: 3000\n");
    assertLess(took, 3_000 + 2_500);
    // The hung agent outlived SHUTDOWN_TIMEOUT_MS: only then was it stopped,
    // and a resume on the next instance gets the logged end.
    const next = await startServer({ KV_PATH: kvPath });
    try {
      const requestId = String(seen[0].request_id);
      const resumed = await WsTestClient.connect(next.wsUrl);
      resumed.send({ type: "resume", request_id: requestId, last_seq: seen.at(-1)!.seq });
      const rest = await resumed.answer();
      await resumed.close();
      assertEquals([rest.at(-1)?.type, rest.at(-1)?.code], ["error", ErrorCode.ShuttingDown]);
      const sseId = /id: ([^:\n]+):(\d+)/.exec(sseText)!;
      const sseResume = await fetch(`${next.url}/agent_chat_stream?query=x`, {
        headers: { "last-event-id": `${sseId[1]}:${sseId[2]}` },
      });
      assertStringIncludes(await sseResume.text(), '"code":"shutting_down"');
    } finally {
      await next.close();
    }
    // Nothing acknowledged is lost: both partial turns are in KV.
    const store = await KvSessionStore.open(kvPath, { window: 10 });
    const ws = await store.load("drain-ws");
    const sseTurns = await store.load("drain-sse");
    store.close();
    assertEquals(ws.map((t) => [t.query, t.answer]), [["in flight", "partial answer"]]);
    assertEquals(sseTurns.map((t) => t.answer), ["partial answer"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shutdown: a hung agent and a peer that ignores the close cannot hold shutdown past SHUTDOWN_TIMEOUT_MS", async () => {
  const agent = deafAgent();
  const server = await startServer({ SHUTDOWN_TIMEOUT_MS: "500" }, { agent });
  const peer = await RawWs.connect(server.wsUrl); // never answers the closing handshake
  try {
    await peer.sendText(JSON.stringify({ query: "hang" }));
    assertEquals((await peer.nextJson())?.type, "session");
    const ms = await within(server.close(), 5_000, "shutdown");
    const close = await peer.closeInfo();
    console.log(
      `shutdown with a deaf agent and a deaf peer took ${
        ms.toFixed(0)
      } ms; peer saw close ${close.code}`,
    );
    assertEquals(close.code, CloseCode.ServiceRestart);
  } finally {
    agent.release();
    peer.close();
  }
});

Deno.test("shutdown: SIGTERM drains and the process exits 0 in bounded time", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const server = await spawnServer("deno", {
      KV_PATH: `${dir}/kv.sqlite3`,
      AGENT: "synthetic",
      SYNTHETIC_CHUNKS: "100000",
      SYNTHETIC_INTERVAL_MS: "20",
      SHUTDOWN_TIMEOUT_MS: "2000",
      LOG_LEVEL: "info",
    });
    let status: Deno.CommandStatus;
    let closed: CloseEvent;
    try {
      const client = await WsTestClient.connect(server.wsUrl);
      client.send({ query: "stream", session_id: "sigterm" });
      await client.until((f) => f.type === "content");
      const started = performance.now();
      await server.close(); // SIGTERM, then waits for the exit
      status = await server.exited;
      const took = performance.now() - started;
      closed = await client.closed();
      console.log(
        `SIGTERM: exit ${status.code} after ${took.toFixed(0)} ms, client close ${closed.code}`,
      );
    } finally {
      await server.close();
    }
    assertEquals(status.code, 0);
    assertEquals(closed.code, CloseCode.ServiceRestart);
    const store = await KvSessionStore.open(`${dir}/kv.sqlite3`, { window: 10 });
    const turns = await store.load("sigterm");
    store.close();
    assertEquals(turns.length, 1);
    assertGreater(turns[0].answer.length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
