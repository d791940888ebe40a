/**
 * Budgets per client key against real servers (issue 15): the
 * reconnect-loop upload and query floods are held to the key's budgets
 * while other clients go on; one budget across two instances sharing a
 * KV file or a redis-server; SSE and `POST /api/chat` over the answer
 * budget get a 429 (`Retry-After`, JSON `rate_limited` with `retry_after`);
 * `X-Forwarded-For` counts only from a trusted proxy.
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type FloodResult, queryFlood, uploadFlood } from "./helpers/flood.ts";
import { hasRedis, startRedis } from "./helpers/redis_server.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

const FILE_BYTES = 240_000;
const UPLOAD_BUDGET = 1_000_000;

/** Servers behind a "proxy" at 127.0.0.1, so each test client picks its address with `X-Forwarded-For`. */
const PROXIED = { TRUSTED_PROXIES: "127.0.0.1", LOG_LEVEL: "silent" };

async function withServers(
  count: number,
  env: Record<string, string>,
  body: (servers: TestServer[]) => Promise<void>,
): Promise<void> {
  const servers: TestServer[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await startServer(env));
    await body(servers);
  } finally {
    for (const server of servers) await server.close();
  }
}

/** Uploads one file of `size` bytes as client `address`; the frame that answered it. */
async function uploadOnce(
  server: TestServer,
  address: string,
  size = 5,
): Promise<Record<string, unknown>> {
  const client = await WsTestClient.connect(server.wsUrl, {
    headers: { "x-forwarded-for": address },
  });
  client.send({ type: "upload", upload_id: "u1", name: "a.txt", mime: "text/plain", size });
  client.socket.send(new TextEncoder().encode("x".repeat(size)));
  const frame = await client.next();
  await client.close();
  return frame;
}

function assertUploadsHeld(result: FloodResult, budget: number) {
  assert(result.connections > 1, `the flood reconnected (${result.connections} connections)`);
  assert(result.bytes <= budget, `${result.bytes} bytes stored, budget ${budget}`);
  assertEquals(result.uploads, Math.floor(budget / FILE_BYTES));
  assert(result.rateLimited > 0, "refusals are rate_limited errors");
}

Deno.test("the reconnect-loop upload flood is held to the key's upload budget; other clients still upload", async () => {
  const dir = await Deno.makeTempDir();
  const env = {
    ...PROXIED,
    KV_PATH: `${dir}/chat.kv`,
    KEY_UPLOAD_BYTES: String(UPLOAD_BUDGET),
    // So the upload budget, not the message budget, is what stops the flood.
    KEY_MESSAGES_PER_MINUTE: "100000",
  };
  await withServers(1, env, async ([server]) => {
    const result = await uploadFlood({
      urls: [server.wsUrl],
      headers: { "x-forwarded-for": "203.0.113.7" },
      durationMs: 3_000,
      fileBytes: FILE_BYTES,
    });
    console.log(`upload flood, one instance: ${JSON.stringify(result)}`);
    assertUploadsHeld(result, UPLOAD_BUDGET);
    assertEquals((await uploadOnce(server, "198.51.100.9")).type, "uploaded");
    const refused = await uploadOnce(server, "203.0.113.7", 50_000);
    assertEquals(refused.code, "rate_limited");
    assertEquals(refused.upload_id, "u1");
    assert(typeof refused.retry_after === "number" && refused.retry_after >= 1);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the reconnect-loop query flood is held to the answer budget (per minute and concurrent)", async () => {
  const env = {
    ...PROXIED,
    KEY_ANSWERS_PER_MINUTE: "6",
    MAX_ANSWERS_PER_CLIENT: "2",
    DEMO_DELAY_MS: "200",
    SHUTDOWN_TIMEOUT_MS: "200",
  };
  await withServers(1, env, async ([server]) => {
    const flood = (address: string) =>
      queryFlood({
        urls: [server.wsUrl],
        headers: { "x-forwarded-for": address },
        durationMs: 2_000,
      });
    const result = await flood("203.0.113.7");
    console.log(`query flood: ${JSON.stringify(result)}`);
    // Answers run for the grace period after each drop: two at a time at most.
    assertEquals(result.answers, 2);
    assert(result.rateLimited > 0);
    const other = await flood("198.51.100.9");
    assertEquals(other.answers, 2, "another client has its own budget");
  });
});

Deno.test("budgets hold across two instances sharing one KV file", async () => {
  const dir = await Deno.makeTempDir();
  const env = { ...PROXIED, KV_PATH: `${dir}/chat.kv`, KEY_UPLOAD_BYTES: String(UPLOAD_BUDGET) };
  await withServers(2, env, async (servers) => {
    const result = await uploadFlood({
      urls: servers.map((server) => server.wsUrl),
      headers: { "x-forwarded-for": "203.0.113.7" },
      durationMs: 3_000,
      fileBytes: FILE_BYTES,
    });
    console.log(`upload flood, two instances on one KV file: ${JSON.stringify(result)}`);
    assertUploadsHeld(result, UPLOAD_BUDGET);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "budgets hold across two instances sharing one redis-server",
  ignore: !hasRedis(),
  async fn() {
    const redis = await startRedis();
    const env = { ...PROXIED, REDIS_URL: redis.url, KEY_UPLOAD_BYTES: String(UPLOAD_BUDGET) };
    try {
      await withServers(2, env, async (servers) => {
        const result = await uploadFlood({
          urls: servers.map((server) => server.wsUrl),
          headers: { "x-forwarded-for": "203.0.113.7" },
          durationMs: 3_000,
          fileBytes: FILE_BYTES,
        });
        console.log(`upload flood, two instances on one redis: ${JSON.stringify(result)}`);
        assertUploadsHeld(result, UPLOAD_BUDGET);
      });
    } finally {
      await redis.stop();
    }
  },
});

/**
 * Asks over SSE with `headers`: "ok" (a 200 event stream, read to its end),
 * or "refused" when the answer budget refused it: a 429 with `Retry-After`
 * and the JSON error body, before any stream started.
 */
async function sse(server: TestServer, headers: Record<string, string>): Promise<string> {
  const response = await fetch(`${server.url}/agent_chat_stream?query=hi`, { headers });
  if (response.status === 429) {
    await assertRateLimited(response);
    return "refused";
  }
  assertEquals(response.status, 200);
  assertStringIncludes(response.headers.get("content-type") ?? "", "text/event-stream");
  const text = await response.text();
  assertStringIncludes(text, '"type":"done"');
  return "ok";
}

/** A 429 refusal: `Retry-After` header, JSON `rate_limited` with the same `retry_after`. */
async function assertRateLimited(response: Response): Promise<void> {
  assertEquals(response.status, 429);
  assertStringIncludes(response.headers.get("content-type") ?? "", "application/json");
  const body = await response.json();
  assertEquals(body.error.code, "rate_limited");
  assert(typeof body.error.retry_after === "number" && body.error.retry_after >= 1);
  assertEquals(response.headers.get("retry-after"), String(body.error.retry_after));
  assertStringIncludes(body.error.message, "Too many answers");
}

Deno.test("SSE over the answer budget is a 429 with Retry-After and a rate_limited body", async () => {
  await withServers(1, { KEY_ANSWERS_PER_MINUTE: "1" }, async ([server]) => {
    assertEquals(await sse(server, {}), "ok");
    assertEquals(await sse(server, {}), "refused");
  });
  // The concurrent limit too: one answer running (its client went away), the next refused.
  await withServers(1, {
    MAX_ANSWERS_PER_CLIENT: "1",
    DEMO_DELAY_MS: "200",
    SHUTDOWN_TIMEOUT_MS: "200",
  }, async ([server]) => {
    const running = await fetch(`${server.url}/agent_chat_stream?query=hi`);
    assertEquals(running.status, 200);
    const refused = await fetch(`${server.url}/agent_chat_stream?query=hi`);
    await assertRateLimited(refused);
    await running.body?.cancel();
  });
});

Deno.test("POST /api/chat over the answer budget is a 429 with Retry-After and a rate_limited body", async () => {
  await withServers(1, { KEY_ANSWERS_PER_MINUTE: "1" }, async ([server]) => {
    const ask = () =>
      fetch(`${server.url}/api/chat`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          id: "budget-chat",
          trigger: "submit-message",
          messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "hi" }] }],
        }),
      });
    const first = await ask();
    assertEquals(first.status, 200);
    assertStringIncludes(await first.text(), "[DONE]");
    await assertRateLimited(await ask());
  });
});

Deno.test("X-Forwarded-For is honoured only from a trusted proxy; spoofing from elsewhere changes nothing", async () => {
  const budget = { KEY_ANSWERS_PER_MINUTE: "1" };
  await withServers(1, budget, async ([server]) => {
    // No trusted proxy: every spoofed address is still the one peer.
    assertEquals(await sse(server, { "x-forwarded-for": "203.0.113.1" }), "ok");
    assertEquals(await sse(server, { "x-forwarded-for": "203.0.113.2" }), "refused");
    assertEquals(await sse(server, { forwarded: "for=203.0.113.3" }), "refused");
  });
  await withServers(
    1,
    { ...budget, TRUSTED_PROXIES: "127.0.0.0/8,10.0.0.0/8" },
    async ([server]) => {
      const as = (xff: string) => sse(server, { "x-forwarded-for": xff });
      assertEquals(await as("203.0.113.1"), "ok");
      assertEquals(await as("203.0.113.2"), "ok");
      assertEquals(await as("203.0.113.1"), "refused");
      // The rightmost untrusted hop counts: what the client wrote to its left is ignored.
      assertEquals(await as("1.1.1.1, 203.0.113.2, 10.0.0.5"), "refused");
      assertEquals(await sse(server, { forwarded: 'for="[2001:db8::1]:4711"' }), "ok");
      assertEquals(await sse(server, { forwarded: "for=2001:db8::1" }), "refused");
    },
  );
});

Deno.test({
  name: "SSE while the budget store is down is a 503 unavailable with Retry-After, not a stream",
  ignore: !hasRedis(),
  async fn() {
    const redis = await startRedis();
    try {
      await withServers(1, { REDIS_URL: redis.url }, async ([server]) => {
        assertEquals(await sse(server, {}), "ok");
        await redis.stop();
        const response = await fetch(`${server.url}/agent_chat_stream?query=hi`);
        assertEquals(response.status, 503);
        assertEquals(response.headers.get("retry-after"), "1");
        const body = await response.json();
        assertEquals(body.error.code, "unavailable");
        assertEquals(body.error.retry_after, 1);
      });
    } finally {
      await redis.stop();
    }
  },
});
