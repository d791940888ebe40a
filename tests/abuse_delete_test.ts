/**
 * Deleting a chat (issue 15) on a real server over a KV file: the owner's
 * delete (`POST /chats/{id}/delete`, the conversation list's button)
 * removes the session's history and its uploads, so no key of it remains
 * but the stream log's (which expires after `STREAM_TTL_MS`).
 * @module
 */
import { assertEquals } from "@std/assert";
import { keysOf } from "./helpers/kv_keys.ts";
import { startServer } from "./helpers/server.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

Deno.test("the owner deletes a chat: its history and uploads are gone from the store", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/chat.kv`;
  const server = await startServer({ KV_PATH: path });
  const cookie = "chat_owner=owner-1";
  try {
    const client = await WsTestClient.connect(server.wsUrl, { headers: { cookie } });
    client.send({
      type: "upload",
      upload_id: "u1",
      session_id: "doomed",
      name: "a.txt",
      mime: "text/plain",
      size: 5,
    });
    client.socket.send(new TextEncoder().encode("hello"));
    assertEquals((await client.next()).type, "uploaded");
    client.send({ query: "remember me", session_id: "doomed", attachments: ["u1"] });
    assertEquals((await client.answer()).at(-1)?.type, "done");
    await client.close();
    const before = await keysOf(path, "doomed");
    assertEquals(before.some((key) => key.startsWith("sessions/doomed/turns")), true, `${before}`);
    assertEquals(before.some((key) => key.startsWith("uploads/doomed")), true, `${before}`);

    const stranger = await fetch(`${server.url}/chats/doomed/delete`, {
      method: "POST",
      headers: { cookie: "chat_owner=someone-else" },
      redirect: "manual",
    });
    assertEquals(stranger.status, 404);
    await stranger.body?.cancel();
    assertEquals((await keysOf(path, "doomed")).length, before.length);

    const deleted = await fetch(`${server.url}/chats/doomed/delete`, {
      method: "POST",
      headers: { cookie },
      redirect: "manual",
    });
    assertEquals(deleted.status, 303);
    await deleted.body?.cancel();
    assertEquals(await keysOf(path, "doomed"), []);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
