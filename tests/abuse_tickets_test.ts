/**
 * Single-use tickets bound to their identity and origin (issue 15), on
 * real servers: a replayed ticket is refused, on the same instance and on
 * another sharing the backend; a ticket from one origin does not open a
 * stream from another; an EventSource reconnect (Last-Event-ID) may reuse
 * its ticket to resume.
 * @module
 */
import { assertEquals } from "@std/assert";
import { startServer, type TestServer } from "./helpers/server.ts";

const ALICE = "alice:alice-token-0123456789";
const TOKEN = "alice-token-0123456789";
const APP = "https://app.example";
const OTHER = "https://other.example";

async function ticket(server: TestServer, origin?: string): Promise<string> {
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
  if (origin) headers.origin = origin;
  const response = await fetch(`${server.url}/auth/ticket`, { method: "POST", headers });
  assertEquals(response.status, 200);
  return (await response.json()).ticket;
}

async function stream(
  server: TestServer,
  ticketValue: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const response = await fetch(
    `${server.url}/agent_chat_stream?query=hi&ticket=${encodeURIComponent(ticketValue)}`,
    { headers },
  );
  await response.body?.cancel();
  return response.status;
}

Deno.test("a replayed ticket is refused, on the same instance and on another sharing the KV file", async () => {
  const dir = await Deno.makeTempDir();
  const env = { AUTH_TOKENS: ALICE, KV_PATH: `${dir}/chat.kv`, RESUME_GRACE_MS: "0" };
  const a = await startServer(env);
  const b = await startServer(env);
  try {
    const once = await ticket(a);
    assertEquals(await stream(a, once), 200);
    assertEquals(await stream(a, once), 401);
    assertEquals(await stream(b, once), 401);
    // Over WebSocket too: the upgrade is refused.
    const used = await ticket(b);
    assertEquals(await stream(b, used), 200);
    const socket = new WebSocket(`${a.wsUrl}?ticket=${encodeURIComponent(used)}`);
    const opened = await new Promise<boolean>((resolve) => {
      socket.onopen = () => resolve(true);
      socket.onerror = () => resolve(false);
    });
    if (opened) socket.close();
    assertEquals(opened, false);
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a ticket is bound to the origin it was issued for; an SSE reconnect may reuse it to resume", async () => {
  const server = await startServer({
    AUTH_TOKENS: ALICE,
    ALLOWED_ORIGINS: `${APP},${OTHER}`,
    RESUME_GRACE_MS: "0",
  });
  try {
    const fromApp = await ticket(server, APP);
    assertEquals(await stream(server, fromApp, { origin: OTHER }), 401);
    assertEquals(await stream(server, fromApp, { origin: APP }), 200);
    // EventSource's reconnect: same URL (a used ticket) with Last-Event-ID is a resume, not refused by auth.
    const resumed = await stream(server, fromApp, { origin: APP, "last-event-id": "gone:3" });
    assertEquals(resumed, 200);
    assertEquals(await stream(server, fromApp, { origin: APP }), 401);
  } finally {
    await server.close();
  }
});
