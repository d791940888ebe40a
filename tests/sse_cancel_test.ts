/**
 * `POST /agent_chat_stream/cancel`: Stop over SSE stops the agent at once
 * (closing the stream alone only drops it for the resume grace period), the
 * partial answer is what history keeps, and the cancel is guarded like the
 * stream: origin, authentication, ownership.
 */
import { assertEquals } from "@std/assert";
import { hangingAgent } from "./helpers/agents.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { sseEvents } from "./helpers/sse_client.ts";

const ALICE = "alice-token-0123456789";
const BOB = "bob-token-0123456789abc";

/** Opens an answer over SSE, reads its first content event and drops the stream. */
async function openAndDrop(
  server: TestServer,
  requestId: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const abort = new AbortController();
  const response = await fetch(
    `${server.url}/agent_chat_stream?query=long&session_id=s-cancel&request_id=${requestId}`,
    { signal: abort.signal, headers },
  );
  assertEquals(response.status, 200);
  for await (const event of sseEvents(response)) {
    assertEquals(event.id?.split(":")[0], requestId, "the stream uses the client's request id");
    if (event.json.type === "content") break;
  }
  abort.abort();
}

function cancel(
  server: TestServer,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.url}/agent_chat_stream/cancel`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

/** Fails (instead of hanging) when `promise` does not settle within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

Deno.test("SSE cancel stops the agent at once and history keeps the partial answer", async () => {
  const agent = hangingAgent("partial words");
  // A grace period far longer than the test: only the cancel can stop the agent.
  const server = await startServer({ RESUME_GRACE_MS: "600000" }, { agent });
  try {
    await openAndDrop(server, "req-cancel-1");
    const foreign = await cancel(server, { request_id: "req-cancel-1" }, {
      origin: "https://evil.example",
    });
    assertEquals(foreign.status, 403);
    await foreign.body?.cancel();
    const bad = await cancel(server, { request_id: "no spaces allowed" });
    assertEquals(bad.status, 400);
    assertEquals((await bad.json()).error.code, "invalid_frame");

    const ok = await cancel(server, { request_id: "req-cancel-1" });
    assertEquals(ok.status, 200);
    assertEquals(await ok.json(), { cancelled: true, request_id: "req-cancel-1" });
    await within(agent.aborted, 5_000, "the agent was not aborted by the cancel");

    const unknown = await cancel(server, { request_id: "req-never-started" });
    assertEquals(unknown.status, 404);
    assertEquals((await unknown.json()).error.code, "not_found");

    // The next question of the session sees the partial answer as history.
    await openAndDrop(server, "req-cancel-2");
    const history = agent.calls[1].history;
    assertEquals(history.at(-1)?.answer, "partial words");
    assertEquals(history.at(-1)?.finishReason, "cancelled");
    await cancel(server, { request_id: "req-cancel-2" }).then((r) => r.body?.cancel());
  } finally {
    await server.close();
  }
});

Deno.test("SSE cancel needs authentication and only stops the caller's own answer", async () => {
  const agent = hangingAgent();
  const server = await startServer({
    RESUME_GRACE_MS: "600000",
    AUTH_TOKENS: `alice:${ALICE},bob:${BOB}`,
  }, { agent });
  try {
    await openAndDrop(server, "req-alice", { authorization: `Bearer ${ALICE}` });
    const anonymous = await cancel(server, { request_id: "req-alice" });
    assertEquals(anonymous.status, 401);
    await anonymous.body?.cancel();
    const bob = await cancel(server, { request_id: "req-alice" }, {
      authorization: `Bearer ${BOB}`,
    });
    assertEquals(bob.status, 404, "another identity cannot stop alice's answer");
    await bob.body?.cancel();
    const alice = await cancel(server, { request_id: "req-alice" }, {
      authorization: `Bearer ${ALICE}`,
    });
    assertEquals(alice.status, 200);
    await alice.body?.cancel();
    await within(agent.aborted, 5_000, "the agent was not aborted by the cancel");
  } finally {
    await server.close();
  }
});

Deno.test("SSE refuses a request id that is already streaming", async () => {
  const agent = hangingAgent();
  const server = await startServer({ RESUME_GRACE_MS: "600000" }, { agent });
  try {
    await openAndDrop(server, "req-dup");
    const dup = await fetch(`${server.url}/agent_chat_stream?query=again&request_id=req-dup`);
    assertEquals(dup.status, 409);
    assertEquals((await dup.json()).error.code, "busy");
    await cancel(server, { request_id: "req-dup" }).then((r) => r.body?.cancel());
  } finally {
    await server.close();
  }
});
