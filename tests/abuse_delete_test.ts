/**
 * Deleting a chat (issue 15) on a real server, then looking into the real
 * store (the KV file, the redis-server) for anything of it:
 *
 * - auth off: the owner's no-JS delete (`POST /chats/{id}/delete`, the
 *   conversation list's button; the owner is the `chat_owner` cookie);
 * - auth on: `DELETE /api/sessions/{id}` with the owner's bearer token;
 *   another identity gets the same 404 as for an unknown session (and
 *   `GET /api/sessions` lists only the caller's).
 *
 * Either removes the history, the chat list entry, the owner mark, the
 * uploads and the session's answer in the stream log.
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { createClient } from "redis";
import { openKv } from "../server/store/kv.ts";
import { hasRedis, startRedis } from "./helpers/redis_server.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

/** What a test reads of one backend's store from outside the server. */
interface StoreView {
  /** Every key naming the session, or under the answer's stream log entry. */
  keysOf(sessionId: string, requestId: string): Promise<string[]>;
  /** True once the stream log holds the answer's end. */
  ended(requestId: string): Promise<boolean>;
}

/**
 * Waits (bounded) until the answer's end is in the stream log: a producer
 * flushes its last batch after its client got `done`, so a snapshot taken
 * before then would change by itself.
 */
async function untilLogged(store: StoreView, requestId: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await store.ended(requestId)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Cannot see the end of "${requestId}" in the stream log`);
}

/** The KV file at `path`, seen from outside. */
function kvView(path: string): StoreView {
  return {
    keysOf: (sessionId, requestId) => kvKeysOf(path, sessionId, requestId),
    async ended(requestId) {
      const kv = await openKv(path);
      try {
        const meta = await kv.get<{ ended: boolean }>(["streams", requestId, "meta"]);
        return meta.value?.ended === true;
      } finally {
        kv.close();
      }
    },
  };
}

/** The redis-server at `url`, seen from outside. */
function redisView(url: string): StoreView {
  return {
    keysOf: (sessionId, requestId) => redisKeysOf(url, sessionId, requestId),
    async ended(requestId) {
      const client = createClient({ url });
      await client.connect();
      try {
        return await client.hGet(`chat:r:${requestId}:meta`, "ended") === "1";
      } finally {
        await client.close();
      }
    },
  };
}

/** Every KV key naming `sessionId`, or under `["streams", requestId]`. */
async function kvKeysOf(path: string, sessionId: string, requestId: string): Promise<string[]> {
  const kv = await openKv(path);
  const found: string[] = [];
  for await (const entry of kv.list({ prefix: [] })) {
    const key = entry.key.map(String);
    if (key.includes(sessionId) || key.includes(requestId)) found.push(key.join("/"));
  }
  kv.close();
  return found;
}

/**
 * Every redis key naming `sessionId` or `requestId`, and every chat list
 * (a hash per owner) holding `sessionId` as `<key>/<field>`, but the budget
 * counters (`q:`: the session's upload bucket is the quota's, not the
 * session's data, and expires within `STREAM_TTL_MS`; deleting it would
 * hand back upload budget).
 */
async function redisKeysOf(url: string, sessionId: string, requestId: string): Promise<string[]> {
  const client = createClient({ url });
  await client.connect();
  try {
    const keys = new Set([
      ...await client.keys(`*${sessionId}*`),
      ...await client.keys(`*${requestId}*`),
    ]);
    for (const list of await client.keys("chat:c:*")) {
      if (await client.hExists(list, sessionId)) keys.add(`${list}/${sessionId}`);
    }
    return [...keys].filter((key) => !key.startsWith("chat:q:")).sort();
  } finally {
    await client.close();
  }
}

/**
 * Uploads a file to `sessionId` and asks about it, dropping the socket
 * after the first frame so the answer goes to the stream log, then resumes
 * it to its end; the answer's request id.
 */
async function chatWithUpload(
  server: TestServer,
  sessionId: string,
  headers: Record<string, string>,
): Promise<string> {
  const requestId = `${sessionId}-answer`;
  const client = await WsTestClient.connect(server.wsUrl, { headers });
  client.send({
    type: "upload",
    upload_id: "u1",
    session_id: sessionId,
    name: "a.txt",
    mime: "text/plain",
    size: 5,
  });
  client.socket.send(new TextEncoder().encode("hello"));
  assertEquals((await client.next()).type, "uploaded");
  client.send({
    query: "remember me",
    session_id: sessionId,
    request_id: requestId,
    attachments: ["u1"],
  });
  await client.next();
  // A drop (not a deliberate close): the answer runs on, logged, for a resume.
  client.socket.close(4000, "network drop");
  await client.closed();
  const resumer = await WsTestClient.connect(server.wsUrl, { headers });
  try {
    resumer.send({ type: "resume", request_id: requestId, last_seq: -1 });
    assertEquals((await resumer.answer()).at(-1)?.type, "done");
  } finally {
    await resumer.close();
  }
  return requestId;
}

/** The parts of a session every backend keeps, by key: present before a delete. */
function assertStored(keys: string[], sessionId: string, requestId: string) {
  const has = (part: string) => keys.some((key) => key.includes(part));
  assert(keys.some((key) => key.includes(sessionId) && key.includes("turns")), `${keys}`);
  assert(keys.some((key) => key.includes(sessionId) && key.includes("u1")), `upload: ${keys}`);
  assert(has(requestId), `stream log: ${keys}`);
}

Deno.test("auth off: the owner deletes a chat with the list's form; nothing of it stays in the KV file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/chat.kv`;
  const server = await startServer({ KV_PATH: path, DEMO_DELAY_MS: "30" });
  const cookie = "chat_owner=owner-1";
  try {
    const requestId = await chatWithUpload(server, "doomed", { cookie });
    await untilLogged(kvView(path), requestId);
    const before = await kvKeysOf(path, "doomed", requestId);
    assertStored(before, "doomed", requestId);
    assert(before.includes("chats/browser:owner-1/doomed"), `${before}`);

    const stranger = await fetch(`${server.url}/chats/doomed/delete`, {
      method: "POST",
      headers: { cookie: "chat_owner=someone-else" },
      redirect: "manual",
    });
    assertEquals(stranger.status, 404);
    await stranger.body?.cancel();
    assertEquals(withoutLease(await kvKeysOf(path, "doomed", requestId)), withoutLease(before));

    const deleted = await fetch(`${server.url}/chats/doomed/delete`, {
      method: "POST",
      headers: { cookie },
      redirect: "manual",
    });
    assertEquals(deleted.status, 303);
    await deleted.body?.cancel();
    assertEquals(await kvKeysOf(path, "doomed", requestId), []);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

const ALICE = "alice-token-0123456789abcdef";
const BOB = "bob-token-0123456789abcdef01";
const AUTH = { AUTH_TOKENS: `alice:${ALICE},bob:${BOB}` };

/** `DELETE /api/sessions/{id}` with `token`: the status and the error code, if any. */
async function deleteAs(
  server: TestServer,
  id: string,
  token?: string,
): Promise<[number, string | undefined]> {
  const response = await fetch(`${server.url}/api/sessions/${id}`, {
    method: "DELETE",
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  if (response.status === 204) {
    assertEquals(await response.text(), "");
    return [204, undefined];
  }
  assertEquals(response.headers.get("content-type"), "application/json");
  return [response.status, (await response.json()).error.code];
}

/** `GET /api/sessions` with `token`: the listed session ids. */
async function listAs(server: TestServer, token: string): Promise<string[]> {
  const response = await fetch(`${server.url}/api/sessions`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assertEquals(response.status, 200);
  const body = await response.json() as { sessions: { session_id: string }[] };
  return body.sessions.map((chat) => chat.session_id);
}

/** Keys but the producer's lease, which lapses by itself a few seconds after the answer. */
function withoutLease(keys: string[]): string[] {
  return keys.filter((key) => !key.endsWith("lease"));
}

/** The auth-on deletion story against one backend, `store` looking into it. */
async function deleteWithAuth(env: Record<string, string>, store: StoreView): Promise<void> {
  const server = await startServer({ ...AUTH, DEMO_DELAY_MS: "30", ...env });
  try {
    const requestId = await chatWithUpload(server, "doomed", { authorization: `Bearer ${ALICE}` });
    await untilLogged(store, requestId);
    const keysOf = (id: string) => store.keysOf(id, requestId);
    const before = await keysOf("doomed");
    assertStored(before, "doomed", requestId);
    assert(before.some((key) => key.includes("id:alice")), `listed for alice: ${before}`);

    assertEquals(await listAs(server, ALICE), ["doomed"]);
    assertEquals(await listAs(server, BOB), []);
    assertEquals(await deleteAs(server, "doomed"), [401, "unauthorized"]);
    // Bob cannot delete it, and learns nothing: the same 404 as for a session that never was.
    assertEquals(await deleteAs(server, "doomed", BOB), [404, "not_found"]);
    assertEquals(await deleteAs(server, "never-was", BOB), [404, "not_found"]);
    assertEquals(withoutLease(await keysOf("doomed")), withoutLease(before));

    assertEquals(await deleteAs(server, "doomed", ALICE), [204, undefined]);
    assertEquals(await keysOf("doomed"), []);
    assertEquals(await listAs(server, ALICE), []);
    assertEquals(await deleteAs(server, "doomed", ALICE), [404, "not_found"]);
  } finally {
    await server.close();
  }
}

Deno.test("auth on: DELETE /api/sessions/{id} by the owner leaves nothing of it in the KV file; another identity gets 404", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/chat.kv`;
  try {
    await deleteWithAuth({ KV_PATH: path }, kvView(path));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "auth on: DELETE /api/sessions/{id} by the owner leaves nothing of it in redis",
  ignore: !hasRedis(),
  async fn() {
    const redis = await startRedis();
    try {
      await deleteWithAuth({ REDIS_URL: redis.url }, redisView(redis.url));
    } finally {
      await redis.stop();
    }
  },
});

Deno.test("deleting a session with an answer running stops it first: the answer cannot save its turn afterwards", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/chat.kv`;
  const server = await startServer({ KV_PATH: path, DEMO_DELAY_MS: "20" });
  const cookie = "chat_owner=owner-2";
  const client = await WsTestClient.connect(server.wsUrl, { headers: { cookie } });
  try {
    client.send({ query: "first", session_id: "busy", request_id: "busy-1" });
    assertEquals((await client.answer()).at(-1)?.type, "done");
    client.send({ query: "what is 2+3*4", session_id: "busy", request_id: "busy-2" });
    await client.until((frame) => frame.type === "content");
    const deleted = await fetch(`${server.url}/api/sessions/busy`, {
      method: "DELETE",
      headers: { cookie },
    });
    assertEquals(deleted.status, 204);
    await deleted.body?.cancel();
    const rest = await client.answer();
    assertEquals(rest.at(-1)?.type, "done");
    assertEquals(rest.at(-1)?.finish_reason, "cancelled");
    assertEquals(await kvKeysOf(path, "busy", "busy-2"), []);
  } finally {
    await client.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
