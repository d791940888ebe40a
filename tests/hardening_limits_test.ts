/**
 * Hardening, limits: frame and URL size, per-socket message rate,
 * concurrent connections per client address. Real server, real sockets.
 */
import { assert, assertEquals, assertLess, assertStringIncludes } from "@std/assert";
import { CloseCode, ErrorCode, shouldReconnect } from "../protocol/codes.ts";
import { ServerFrame } from "../protocol/frames.ts";
import { echoAgent, hangingAgent } from "./helpers/agents.ts";
import { RawWs } from "./helpers/raw_ws.ts";
import { startServer } from "./helpers/server.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

const MiB = 1024 * 1024;

Deno.test("limits: 40 frames of 1 MiB each close 1009 and memory stays flat", async () => {
  const server = await startServer({ MAX_FRAME_BYTES: "65536" }, { agent: echoAgent() });
  const bystander = await WsTestClient.connect(server.wsUrl);
  try {
    const big = "x".repeat(MiB);
    const before = Deno.memoryUsage().rss;
    const codes: number[] = [];
    for (let round = 0; round < 4; round++) {
      const clients = await Promise.all(
        Array.from({ length: 10 }, () => WsTestClient.connect(server.wsUrl)),
      );
      for (const client of clients) client.send(big);
      for (const client of clients) {
        const event = await client.closed();
        codes.push(event.code);
        assertStringIncludes(event.reason, "65536");
      }
    }
    const growth = Deno.memoryUsage().rss - before;
    console.log(`40 x 1 MiB frames: rss growth ${(growth / MiB).toFixed(1)} MiB`);
    assertEquals(new Set(codes), new Set([CloseCode.MessageTooBig]));
    assertEquals(shouldReconnect(CloseCode.MessageTooBig), false);
    // 40 MiB were sent; buffering them all (plus UTF-16 copies) would be far more.
    assertLess(growth, 200 * MiB);
    bystander.send({ query: "still fine?" });
    assertEquals(textOf(await bystander.answer()), "echo: still fine?");
  } finally {
    await bystander.close();
    await server.close();
  }
});

Deno.test("limits: an SSE request URL over MAX_URL_BYTES gets 414 before any agent work", async () => {
  const agent = echoAgent();
  const server = await startServer({ MAX_URL_BYTES: "4096" }, { agent });
  try {
    const response = await fetch(`${server.url}/agent_chat_stream?query=${"a".repeat(5000)}`);
    assertEquals(response.status, 414);
    const body = await response.json();
    assertEquals(body.error.code, ErrorCode.TooLarge);
    assertStringIncludes(body.error.message, "4096");
    // Just under the limit still streams.
    const ok = await fetch(`${server.url}/agent_chat_stream?query=${"a".repeat(3000)}`);
    assertEquals(ok.status, 200);
    await ok.body?.cancel();
    assertLess(agent.calls.length, 2);
  } finally {
    await server.close();
  }
});

Deno.test("limits: over RATE_LIMIT_PER_MINUTE a socket gets rate_limited with retry_after, then close 4029", async () => {
  const server = await startServer({ RATE_LIMIT_PER_MINUTE: "5" }, { agent: echoAgent() });
  const noisy = await WsTestClient.connect(server.wsUrl);
  const quiet = await WsTestClient.connect(server.wsUrl);
  try {
    for (let i = 0; i < 5; i++) {
      noisy.send({ type: "ping", id: i });
      assertEquals(await noisy.next(), { type: "pong", id: i });
    }
    noisy.send({ type: "ping", id: 5 });
    const error = await noisy.next();
    ServerFrame.parse(error);
    assertEquals(error.code, ErrorCode.RateLimited);
    assert(typeof error.retry_after === "number" && error.retry_after >= 1, "retry_after");
    const closed = await noisy.closed();
    assertEquals(closed.code, CloseCode.RateLimited);
    assertEquals(shouldReconnect(closed.code), true);
    console.log(
      `rate limit: ${JSON.stringify(error)} then close ${closed.code} "${closed.reason}"`,
    );
    // Another client on the same server is unaffected.
    quiet.send({ query: "hello" });
    assertEquals(textOf(await quiet.answer()), "echo: hello");
  } finally {
    await quiet.close();
    await server.close();
  }
});

Deno.test("limits: MAX_CONNECTIONS_PER_IP refuses the next WS (error + 4029) and SSE (429), frees on close", async () => {
  const agent = hangingAgent();
  const server = await startServer({ MAX_CONNECTIONS_PER_IP: "2" }, { agent });
  const first = await WsTestClient.connect(server.wsUrl);
  const abort = new AbortController();
  try {
    const sse = await fetch(`${server.url}/agent_chat_stream?query=hold`, {
      signal: abort.signal,
    });
    assertEquals(sse.status, 200);
    // Two slots taken: a third WS is told why and closed.
    const third = await WsTestClient.connect(server.wsUrl);
    const error = await third.next();
    assertEquals(error.code, ErrorCode.RateLimited);
    assertEquals(error.retry_after, 5);
    assertEquals((await third.closed()).code, CloseCode.RateLimited);
    // A third SSE gets 429 with Retry-After.
    const refused = await fetch(`${server.url}/agent_chat_stream?query=more`);
    assertEquals(refused.status, 429);
    assertEquals(refused.headers.get("retry-after"), "5");
    assertEquals((await refused.json()).error.code, ErrorCode.RateLimited);
    // Bad requests do not leak slots: a 400 does not count.
    for (let i = 0; i < 3; i++) {
      await (await fetch(`${server.url}/agent_chat_stream?query=`)).body?.cancel();
    }
    // Closing one frees its slot.
    await first.close();
    let again: WsTestClient | undefined;
    for (let i = 0; i < 50 && !again; i++) {
      const client = await WsTestClient.connect(server.wsUrl);
      client.send({ type: "ping", id: "slot" });
      const reply = await client.next();
      if (reply.type === "pong") again = client;
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert(again, "a slot was freed");
    await again.close();
  } finally {
    abort.abort();
    await server.close();
  }
});

Deno.test("limits: raw handshake over the connection limit still gets a frame, not a hang", async () => {
  const server = await startServer({ MAX_CONNECTIONS_PER_IP: "1" });
  const holder = await RawWs.connect(server.wsUrl);
  try {
    const second = await RawWs.connect(server.wsUrl);
    const frame = await second.nextJson();
    assertEquals(frame?.code, ErrorCode.RateLimited);
    assertEquals((await second.closeInfo()).code, CloseCode.RateLimited);
    second.close();
  } finally {
    holder.close();
    await server.close();
  }
});
