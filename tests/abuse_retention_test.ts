/**
 * Storage bounds (issue 15) on a real server over a KV file, driven by a
 * real WebSocket client with an owner cookie: history expires after a
 * short `HISTORY_TTL_MS` (the chat leaves the list, its turns are no longer
 * served), and `MAX_SESSIONS_PER_OWNER` holds: a new chat over the cap
 * evicts the least recently used one, its history and uploads with it.
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { keysOf } from "./helpers/kv_keys.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { until } from "./helpers/within.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

const COOKIE = "chat_owner=retention-owner";

/** Runs `body` on a server over a fresh KV file (`env` added), then cleans up. */
async function withServer(
  env: Record<string, string>,
  body: (server: TestServer, path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/chat.kv`;
  const server = await startServer({ KV_PATH: path, ...env });
  try {
    await body(server, path);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asks `query` in `sessionId` and waits for the answer to finish. */
async function ask(client: WsTestClient, sessionId: string, query: string): Promise<void> {
  client.send({ query, session_id: sessionId });
  assertEquals((await client.answer()).at(-1)?.type, "done", `the answer in "${sessionId}"`);
}

/** The page as the owner sees it (`chat`: the session it shows). */
async function page(server: TestServer, chat?: string): Promise<string> {
  const url = chat ? `${server.url}/?chat=${chat}` : `${server.url}/`;
  return await (await fetch(url, { headers: { cookie: COOKIE } })).text();
}

/** The sessions the owner's conversation list links to. */
const listed = (html: string) => [...html.matchAll(/href="\/\?chat=([^"]+)"/g)].map((m) => m[1]);

Deno.test("history expires after HISTORY_TTL_MS: the chat leaves the list, its turns are gone", async () => {
  await withServer({ HISTORY_TTL_MS: "1500" }, async (server, path) => {
    const client = await WsTestClient.connect(server.wsUrl, { headers: { cookie: COOKIE } });
    await ask(client, "fleeting", "remember the fleeting question");
    await client.close();
    // Read from the file, not the page: showing the chat would push its expiry back.
    const keys = await keysOf(path, "fleeting");
    assert(keys.some((key) => key.startsWith("sessions/fleeting/turns")), `${keys}`);
    assertEquals(listed(await page(server)), ["fleeting"]);

    await until(async () => listed(await page(server)).length === 0, {
      timeoutMs: 30_000,
      what: "the chat leaves the owner's list",
    });
    // The turn was stored before the chat was listed: its history expired first.
    assert(!(await page(server, "fleeting")).includes("fleeting question"), "the turns are gone");
  });
});

Deno.test("MAX_SESSIONS_PER_OWNER holds: a new chat evicts the least recently used, uploads too", async () => {
  await withServer({ MAX_SESSIONS_PER_OWNER: "2" }, async (server, path) => {
    const client = await WsTestClient.connect(server.wsUrl, { headers: { cookie: COOKIE } });
    await ask(client, "first", "the first chat");
    client.send({
      type: "upload",
      upload_id: "u1",
      session_id: "second",
      name: "a.txt",
      mime: "text/plain",
      size: 5,
    });
    client.socket.send(new TextEncoder().encode("hello"));
    assertEquals((await client.next()).type, "uploaded");
    client.send({ query: "the second chat", session_id: "second", attachments: ["u1"] });
    assertEquals((await client.answer()).at(-1)?.type, "done");
    await ask(client, "first", "the first chat again");
    assertEquals(listed(await page(server)), ["first", "second"], "the first was used last");
    const before = await keysOf(path, "second");
    assert(before.some((key) => key.startsWith("uploads/second")), `${before}`);

    await ask(client, "third", "the third chat");
    await client.close();
    assertEquals(listed(await page(server)), ["third", "first"], "at most two chats");
    assertEquals(await keysOf(path, "second"), [], "nothing of the evicted chat stays");
    assert((await page(server, "first")).includes("the first chat again"));
    assert(!(await page(server, "second")).includes("the second chat"));
  });
});
