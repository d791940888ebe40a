/**
 * Hardening, access: origin allowlist, optional authentication (bearer
 * token and short-lived tickets), session ownership. Real server, real sockets.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";

const assertFalse = (value: boolean, message?: string) => assert(!value, message);
import { ErrorCode } from "../protocol/codes.ts";
import { ServerFrame } from "../protocol/frames.ts";
import { Authenticator } from "../server/guards/auth.ts";
import { echoAgent } from "./helpers/agents.ts";
import { rawUpgrade } from "./helpers/raw_ws.ts";
import { startServer } from "./helpers/server.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

/** Status of a WebSocket upgrade attempt with `headers`, and the body when refused. */
async function upgradeStatus(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; head: string }> {
  const { status, head, conn } = await rawUpgrade(url, headers);
  conn.close();
  return { status, head };
}

const ALLOWED = "https://chat.example";

Deno.test("origin: foreign, null and look-alike origins get 403 on WS and SSE, agent never called", async (t) => {
  const agent = echoAgent();
  const server = await startServer({ ALLOWED_ORIGINS: `${ALLOWED},https://other.example:8443` }, {
    agent,
  });
  const host = new URL(server.url).host;
  try {
    for (
      const origin of [
        "https://evil.example",
        "null",
        "https://chat.example.evil.example",
        "https://evilchat.example",
        "http://chat.example",
        "https://chat.example:444",
        "https://other.example",
        `http://${host}.evil.example`,
        "",
      ]
    ) {
      await t.step(`Origin: ${JSON.stringify(origin)}`, async () => {
        const ws = await upgradeStatus(server.wsUrl, { Origin: origin });
        assertEquals(ws.status, 403, ws.head);
        const sse = await fetch(`${server.url}/agent_chat_stream?query=hi`, {
          headers: { Origin: origin },
        });
        assertEquals(sse.status, 403);
        const body = await sse.json();
        assertEquals(body.error.code, ErrorCode.Forbidden);
        assertStringIncludes(body.error.message, "not allowed");
      });
    }
    assertEquals(agent.calls.length, 0);
    await t.step("allowed, same-origin and absent origins pass", async () => {
      for (const origin of [ALLOWED, "https://other.example:8443", `http://${host}`]) {
        assertEquals((await upgradeStatus(server.wsUrl, { Origin: origin })).status, 101);
      }
      assertEquals((await upgradeStatus(server.wsUrl, {})).status, 101);
      const sse = await fetch(`${server.url}/agent_chat_stream?query=hi`, {
        headers: { Origin: ALLOWED },
      });
      assertEquals(sse.status, 200);
      await sse.body?.cancel();
    });
  } finally {
    await server.close();
  }
});

Deno.test("origin: by default only same-origin (and no Origin) is accepted", async () => {
  const server = await startServer();
  try {
    const host = new URL(server.url).host;
    assertEquals(
      (await upgradeStatus(server.wsUrl, { Origin: "https://evil.example" })).status,
      403,
    );
    assertEquals((await upgradeStatus(server.wsUrl, { Origin: `http://${host}` })).status, 101);
  } finally {
    await server.close();
  }
});

const ALICE = "alice-token-0123456789";
const BOB = "bob-token-0123456789abc";

Deno.test("auth: without or with a wrong token WS and SSE get 401 and the agent is never called", async () => {
  const agent = echoAgent();
  const server = await startServer({ AUTH_TOKENS: `alice:${ALICE},bob:${BOB}` }, { agent });
  try {
    const attempts: Record<string, string>[] = [{}, {
      Authorization: "Bearer wrong-token-0123456789",
    }];
    for (const headers of attempts) {
      const ws = await upgradeStatus(server.wsUrl, headers);
      assertEquals(ws.status, 401, ws.head);
      assertStringIncludes(ws.head.toLowerCase(), "www-authenticate: bearer");
      const sse = await fetch(`${server.url}/agent_chat_stream?query=hi`, { headers });
      assertEquals(sse.status, 401);
      assertEquals((await sse.json()).error.code, ErrorCode.Unauthorized);
    }
    const badTicket = await fetch(`${server.url}/agent_chat_stream?query=hi&ticket=abc.def`);
    assertEquals(badTicket.status, 401);
    await badTicket.body?.cancel();
    assertEquals(agent.calls.length, 0);
    // The right token works (header form, as servers and the bench use it).
    const ok = await upgradeStatus(server.wsUrl, { Authorization: `Bearer ${ALICE}` });
    assertEquals(ok.status, 101);
  } finally {
    await server.close();
  }
});

Deno.test("auth: a browser-style client trades its token for a ticket and streams over WS and SSE", async () => {
  const agent = echoAgent();
  const server = await startServer({ AUTH_TOKEN: ALICE }, { agent });
  try {
    const refused = await fetch(`${server.url}/auth/ticket`, { method: "POST" });
    assertEquals(refused.status, 401);
    await refused.body?.cancel();
    const issued = await fetch(`${server.url}/auth/ticket`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ALICE}` },
    });
    assertEquals(issued.status, 200);
    assertEquals(issued.headers.get("cache-control"), "no-store");
    const { ticket, expires_in } = await issued.json();
    assertEquals(expires_in, 30);
    assertFalse(ticket.includes(ALICE), "the ticket does not contain the token");
    const client = await WsTestClient.connect(`${server.wsUrl}?ticket=${ticket}`);
    client.send({ query: "with a ticket" });
    assertEquals(textOf(await client.answer()), "echo: with a ticket");
    await client.close();
    // Tickets are single use (issue 15): the SSE stream trades for its own.
    const second = await fetch(`${server.url}/auth/ticket`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ALICE}` },
    });
    const sse = await fetch(
      `${server.url}/agent_chat_stream?query=sse&ticket=${(await second.json()).ticket}`,
    );
    assertEquals(sse.status, 200);
    assertStringIncludes(await sse.text(), '"content":"sse"');
  } finally {
    await server.close();
  }
});

Deno.test("auth: tickets expire, and a tampered ticket is refused", async () => {
  const auth = new Authenticator([{ name: "alice", token: ALICE }], 30);
  const now = Date.now();
  const { ticket } = await auth.issue("alice", now);
  assertEquals(await auth.redeem(ticket, now + 29_000), "alice");
  assertEquals(await auth.redeem(ticket, now + 31_000), undefined);
  const [payload, signature] = ticket.split(".");
  const forged = btoa(JSON.stringify({ sub: "bob", exp: now + 60_000 })).replace(/=+$/, "");
  assertEquals(await auth.redeem(`${forged}.${signature}`, now), undefined);
  assertEquals(await auth.redeem(`${payload}.${signature}x`, now), undefined);
  // Another deployment with other tokens does not accept it.
  const other = new Authenticator([{ name: "alice", token: BOB }], 30);
  assertEquals(await other.redeem(ticket, now), undefined);
});

Deno.test("auth: a session belongs to its creator; another identity gets forbidden and none of its history", async () => {
  const agent = echoAgent();
  const server = await startServer({ AUTH_TOKENS: `alice:${ALICE},bob:${BOB}` }, { agent });
  const ticket = async (token: string) =>
    (await (await fetch(`${server.url}/auth/ticket`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    })).json()).ticket;
  try {
    const alice = await WsTestClient.connect(`${server.wsUrl}?ticket=${await ticket(ALICE)}`);
    alice.send({ query: "my secret plan", session_id: "alice-session" });
    await alice.answer();
    const bob = await WsTestClient.connect(`${server.wsUrl}?ticket=${await ticket(BOB)}`);
    bob.send({ query: "what did alice ask?", session_id: "alice-session" });
    const frames = await bob.answer();
    for (const frame of frames) ServerFrame.parse(frame);
    const last = frames.at(-1)!;
    assertEquals(last.type, "error");
    assertEquals(last.code, ErrorCode.Forbidden);
    assertFalse(JSON.stringify(frames).includes("secret"), JSON.stringify(frames));
    assertEquals(agent.calls.length, 1, "the agent never ran for bob");
    // Over SSE too.
    const sse = await fetch(`${server.url}/agent_chat_stream?query=x&session_id=alice-session`, {
      headers: { Authorization: `Bearer ${BOB}` },
    });
    const body = await sse.text();
    assertStringIncludes(body, '"code":"forbidden"');
    assertFalse(body.includes("secret"));
    // Nor through the page: with auth on, a session cookie alone renders no history.
    const page =
      await (await fetch(server.url, { headers: { cookie: "session_id=alice-session" } }))
        .text();
    assertFalse(page.includes("secret"), "the page must not render another identity's history");
    // Bob's attempts did not write into alice's session; alice still sees her turn.
    alice.send({ query: "again", session_id: "alice-session" });
    await alice.answer();
    const history = agent.calls.at(-1)!.history;
    assertEquals(history.map((turn) => turn.query), ["my secret plan"]);
    assert(bob.socket.readyState === WebSocket.OPEN, "bob's socket stays usable");
    await alice.close();
    await bob.close();
  } finally {
    await server.close();
  }
});
