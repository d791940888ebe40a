/**
 * Security findings of issue 16 (a hostile pass against a running server),
 * one test each: answer budget, request id collisions, stable token
 * identities, cross-site requests without Origin, DNS rebinding, AI SDK
 * latest-answer pointer and refusals, upload ownership, frame byte length,
 * resume beyond the produced tail. Real server, real sockets.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { ErrorCode } from "../protocol/codes.ts";
import { credentials, loadConfig } from "../server/config.ts";
import { echoAgent, hangingAgent } from "./helpers/agents.ts";
import { rawUpgrade } from "./helpers/raw_ws.ts";
import { startServer } from "./helpers/server.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

type Frame = Record<string, unknown>;
const DROP = 4000;
const ALICE = "alice-token-0123456789";
const BOB = "bob-token-0123456789abc";

/** A WebSocket authenticated as the owner of `token`, with a ticket (as browsers do). */
async function connectAs(wsUrl: string, token: string): Promise<WsTestClient> {
  const base = wsUrl.replace(/^ws/, "http").replace(/\/ws\/chat$/, "");
  const issued = await fetch(`${base}/auth/ticket`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  const { ticket } = await issued.json();
  return await WsTestClient.connect(`${wsUrl}?ticket=${ticket}`);
}

/** The AI SDK `send` frame of a user message. */
function aiSend(chatId: string, requestId: string, text: string): Frame {
  return {
    type: "send",
    requestId,
    id: chatId,
    trigger: "submit-message",
    messageId: undefined,
    messages: [{ id: "m1", role: "user", parts: [{ type: "text", text }] }],
    headers: {},
    body: {},
  };
}

Deno.test("finding 2: ask-and-drop cannot run more answers than the client's budget (WS and SSE)", async () => {
  const agent = hangingAgent();
  const server = await startServer(
    {
      MAX_CONNECTIONS_PER_IP: "8",
      MAX_ANSWERS_PER_CLIENT: "8",
      RESUME_GRACE_MS: "60000",
      SHUTDOWN_TIMEOUT_MS: "200",
    },
    { agent },
  );
  try {
    for (let i = 0; i < 8; i++) {
      const client = await WsTestClient.connect(server.wsUrl);
      client.send({ query: `q${i}`, request_id: `drop-${i}` });
      await client.until((f) => f.type === "content");
      client.socket.close(DROP, "drop");
      await client.closed();
    }
    // Eight orphaned answers run; the ninth is refused on WS and on SSE.
    const client = await WsTestClient.connect(server.wsUrl);
    client.send({ query: "one more", request_id: "drop-8" });
    const refused = await client.next();
    assertEquals(refused.type, "error");
    assertEquals(refused.code, ErrorCode.RateLimited);
    assertEquals(refused.request_id, "drop-8");
    assertEquals(refused.retry_after, 5);
    // Over the budget, SSE is refused before its stream starts: 429 (issue 15).
    const sse = await fetch(`${server.url}/agent_chat_stream?query=more`);
    assertEquals(sse.status, 429);
    assertEquals(sse.headers.get("retry-after"), "5");
    assertEquals((await sse.json()).error.code, ErrorCode.RateLimited);
    assertEquals(agent.calls.length, 8);
    // Cancelling an orphan frees its slot.
    client.send({ type: "cancel", request_id: "drop-0" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    client.send({ query: "now", request_id: "after-cancel" });
    assertEquals(
      (await client.until((f) => f.type === "content")).at(-1)?.request_id,
      "after-cancel",
    );
    await client.close();
  } finally {
    await server.close();
  }
});

Deno.test("finding 3: a request_id in use is refused, the running answer stays its owner's", async () => {
  const server = await startServer(
    { RESUME_GRACE_MS: "60000", SHUTDOWN_TIMEOUT_MS: "200" },
    { agent: hangingAgent() },
  );
  try {
    const victim = await WsTestClient.connect(server.wsUrl);
    victim.send({ query: "secret question", request_id: "req-1" });
    await victim.until((f) => f.type === "content");
    const attacker = await WsTestClient.connect(server.wsUrl);
    attacker.send({ query: "take over", request_id: "req-1" });
    const refused = await attacker.next();
    assertEquals(refused.code, ErrorCode.InvalidFrame);
    assertStringIncludes(String(refused.message), 'request_id "req-1" is already in use');
    // The victim's answer is still the one under req-1: its drop and resume get it back.
    victim.socket.close(DROP, "drop");
    await victim.closed();
    const back = await WsTestClient.connect(server.wsUrl);
    back.send({ type: "resume", request_id: "req-1", last_seq: 0 });
    const resumed = await back.next();
    assertEquals(resumed.type, "content");
    assertEquals(resumed.content, "thinking...");
    await attacker.close();
    await back.close();
  } finally {
    await server.close();
  }
});

Deno.test("finding 4: an unnamed token keeps its identity when the list is edited", () => {
  const both = credentials(loadConfig({ AUTH_TOKENS: `${ALICE},${BOB}` }));
  const bobOnly = credentials(loadConfig({ AUTH_TOKENS: BOB }));
  const bob = both.find((c) => c.token === BOB)!;
  assertEquals(bobOnly[0].name, bob.name);
  assert(both[0].name !== both[1].name);
  assert(/^token-[0-9a-f]{16}$/.test(bob.name), bob.name);
  assert(!bob.name.includes(BOB.slice(0, 8)), "the identity does not contain the token");
});

Deno.test("finding 4: revoking alice's token does not hand her sessions to bob", async () => {
  const dir = await Deno.makeTempDir();
  const KV_PATH = `${dir}/chat.kv`;
  try {
    const first = await startServer({ AUTH_TOKENS: `${ALICE},${BOB}`, KV_PATH });
    try {
      const alice = await connectAs(first.wsUrl, ALICE);
      alice.send({ query: "alice private", session_id: "alice-s" });
      assertEquals((await alice.answer()).at(-1)?.type, "done");
      await alice.close();
    } finally {
      await first.close();
    }
    // Alice's token is revoked: bob's is now the first (and only) in the list.
    const second = await startServer({ AUTH_TOKENS: BOB, KV_PATH });
    try {
      const bob = await connectAs(second.wsUrl, BOB);
      bob.send({ query: "what did she ask?", session_id: "alice-s" });
      const frames = await bob.answer();
      assertEquals(frames.at(-1)?.code, ErrorCode.Forbidden);
      assert(!JSON.stringify(frames).includes("alice private"));
      await bob.close();
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("finding 5: a browser's cross-site request without Origin is refused before any answer", async () => {
  const agent = echoAgent();
  const server = await startServer({}, { agent });
  try {
    for (const site of ["cross-site", "same-site"]) {
      const sse = await fetch(`${server.url}/agent_chat_stream?query=csrf&session_id=chosen`, {
        headers: { "Sec-Fetch-Site": site, "Sec-Fetch-Mode": "no-cors" },
      });
      assertEquals(sse.status, 403);
      assertEquals((await sse.json()).error.code, ErrorCode.Forbidden);
      const ws = await rawUpgrade(server.wsUrl, { "Sec-Fetch-Site": site });
      ws.conn.close();
      assertEquals(ws.status, 403);
    }
    assertEquals(agent.calls.length, 0);
    // Same-origin browsers, typed URLs and non-browser clients still work.
    const passing: Record<string, string>[] = [
      { "Sec-Fetch-Site": "same-origin" },
      { "Sec-Fetch-Site": "none" },
      {},
    ];
    for (const headers of passing) {
      const ok = await fetch(`${server.url}/agent_chat_stream?query=ok`, { headers });
      assertEquals(ok.status, 200);
      await ok.body?.cancel();
    }
  } finally {
    await server.close();
  }
});

Deno.test("finding 6: a Host the server does not answer to gets 403 (DNS rebinding)", async () => {
  const server = await startServer();
  const port = new URL(server.url).port;
  try {
    const rebound = `rebind.attacker.example:${port}`;
    const ws = await rawUpgrade(server.wsUrl, { Host: rebound, Origin: `http://${rebound}` });
    ws.conn.close();
    assertEquals(ws.status, 403, ws.head);
    const sse = await rawGet(server.url, "/agent_chat_stream?query=hi", rebound);
    assertStringIncludes(sse, "403");
    assertStringIncludes(await rawGet(server.url, "/", rebound), "403");
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, "[::1]"]) {
      assertStringIncludes(await rawGet(server.url, "/healthz", host), "200 OK");
    }
  } finally {
    await server.close();
  }
  const named = await startServer({ ALLOWED_HOSTS: "chat.example" });
  try {
    assertStringIncludes(await rawGet(named.url, "/healthz", "chat.example"), "200 OK");
    assertStringIncludes(await rawGet(named.url, "/healthz", new URL(named.url).host), "403");
  } finally {
    await named.close();
  }
});

/** A GET with a chosen Host header over a raw connection; the response head. */
async function rawGet(base: string, path: string, host: string): Promise<string> {
  const url = new URL(base);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}

Deno.test("findings 7 and 8: an intruder's refused send neither hides the owner's answer nor learns its id", async () => {
  const server = await startServer(
    {
      AUTH_TOKENS: `alice:${ALICE},bob:${BOB}`,
      RESUME_GRACE_MS: "60000",
      SHUTDOWN_TIMEOUT_MS: "200",
    },
    { agent: hangingAgent() },
  );
  try {
    const alice = await connectAs(server.wsUrl, ALICE);
    alice.send(aiSend("alice-chat", "alice-req", "private"));
    await alice.until((f) => (f.chunk as Frame | undefined)?.type === "text-delta");
    alice.socket.close(DROP, "drop");
    await alice.closed();
    const bob = await connectAs(server.wsUrl, BOB);
    bob.send(aiSend("alice-chat", "bob-req", "intrude"));
    const refusal = await bob.until((f) => f.type === "error");
    assertEquals(refusal.at(-1)?.code, ErrorCode.Forbidden);
    // Finding 8: bob's resume of alice's chat reveals nothing.
    bob.send({ type: "resume", requestId: "bob-resume", id: "alice-chat" });
    const answer = await bob.next();
    assertEquals(answer, { type: "no-active", requestId: "bob-resume" });
    assert(!JSON.stringify(answer).includes("alice-req"));
    await bob.close();
    // Finding 7: alice's own resume still finds her answer.
    const back = await connectAs(server.wsUrl, ALICE);
    back.send({ type: "resume", requestId: "alice-resume", id: "alice-chat" });
    assertEquals((await back.next()).type, "start");
    const chunk = await back.until((f) => (f.chunk as Frame | undefined)?.type === "text-delta");
    assertEquals((chunk.at(-1)?.chunk as Frame).delta, "thinking...");
    await back.close();
  } finally {
    await server.close();
  }
});

Deno.test("finding 9: an upload into another identity's session is refused and the owner's file stays", async () => {
  const server = await startServer({ AUTH_TOKENS: `alice:${ALICE},bob:${BOB}` });
  const upload = async (client: WsTestClient, text: string) => {
    const bytes = new TextEncoder().encode(text);
    client.send({
      type: "upload",
      upload_id: "notes",
      session_id: "alice-files",
      name: "notes.txt",
      mime: "text/plain",
      size: bytes.byteLength,
    });
    client.socket.send(bytes);
    return await client.next();
  };
  try {
    const alice = await connectAs(server.wsUrl, ALICE);
    assertEquals((await upload(alice, "alice's notes")).type, "uploaded");
    const bob = await connectAs(server.wsUrl, BOB);
    const refused = await upload(bob, "bob's replacement");
    assertEquals(refused.type, "error");
    assertEquals(refused.code, ErrorCode.Forbidden);
    assertEquals(refused.upload_id, "notes");
    await bob.close();
    alice.send({ query: "read it", session_id: "alice-files", attachments: ["notes"] });
    const frames = await alice.answer();
    assertEquals(frames.at(-1)?.type, "done");
    await alice.close();
  } finally {
    await server.close();
  }
});

Deno.test("finding 11: MAX_FRAME_BYTES counts UTF-8 bytes, not UTF-16 units", async () => {
  const server = await startServer({ MAX_FRAME_BYTES: "65536" });
  try {
    const client = await WsTestClient.connect(server.wsUrl);
    // 60,000 three-byte characters: 180,000 bytes, 60,000 UTF-16 units.
    client.send(JSON.stringify({ query: "€".repeat(60_000) }));
    // Old behaviour: the frame passed and got a `query_too_long` error frame instead.
    const first = await Promise.race([client.closed(), client.next().catch(() => client.closed())]);
    assert(first instanceof CloseEvent, `closed, not answered: ${JSON.stringify(first)}`);
    assertEquals(first.code, 1009);
  } finally {
    await server.close();
  }
});

Deno.test("finding 12: resume with a last_seq beyond the answer's tail is refused", async () => {
  const server = await startServer(
    { RESUME_GRACE_MS: "60000", SHUTDOWN_TIMEOUT_MS: "200" },
    { agent: hangingAgent() },
  );
  try {
    const first = await WsTestClient.connect(server.wsUrl);
    first.send({ query: "q", request_id: "tail-1" });
    await first.until((f) => f.type === "content");
    first.socket.close(DROP, "drop");
    await first.closed();
    const client = await WsTestClient.connect(server.wsUrl);
    client.send({ type: "resume", request_id: "tail-1", last_seq: 1000 });
    const refused = await client.next();
    assertEquals(refused.type, "error");
    assertEquals(refused.code, ErrorCode.InvalidFrame);
    assertStringIncludes(String(refused.message), "beyond");
    // A true position still resumes.
    client.send({ type: "resume", request_id: "tail-1", last_seq: 0 });
    assertEquals((await client.next()).seq, 1);
    await client.close();
  } finally {
    await server.close();
  }
});
