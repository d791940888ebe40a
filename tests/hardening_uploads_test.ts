/**
 * Upload trust (issue 18): the bytes must match the declared media type
 * (image signatures, UTF-8 text), an unfinished upload times out, and a
 * query whose socket closed while its attachments loaded never starts.
 * `WsConnection` in process over a fake socket and memory stores.
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { ErrorCode } from "../protocol/codes.ts";
import type { StoredUpload, UploadStore } from "../server/store/types.ts";
import { WsConnection } from "../server/transports/ws/mod.ts";
import { echoAgent } from "./helpers/agents.ts";
import { FakeSocket, harness } from "./helpers/fake_ws.ts";
import { startServer } from "./helpers/server.ts";
import { within } from "./helpers/within.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

/** The first bytes of a file of each accepted image type, and of an executable. */
const FILES: [string, string, number[], boolean][] = [
  ["a PNG", "image/png", [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0], true],
  ["a JPEG", "image/jpeg", [0xff, 0xd8, 0xff, 0xe0, 0, 0x10], true],
  ["a GIF", "image/gif", ascii("GIF89a\x01\x00"), true],
  ["a WebP", "image/webp", [...ascii("RIFF"), 4, 0, 0, 0, ...ascii("WEBPVP8 ")], true],
  ["an executable as PNG", "image/png", [...ascii("MZ"), 0x90, 0, 3, 0, 0, 0], false],
  ["a PNG as JPEG", "image/jpeg", [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], false],
  [
    "a RIFF WAVE as WebP",
    "image/webp",
    [...ascii("RIFF"), 4, 0, 0, 0, ...ascii("WAVEfmt ")],
    false,
  ],
  ["Latin-1 as text", "text/plain", [0x63, 0x61, 0x66, 0xe9], false],
];

function open(env: Record<string, string> = {}, uploads?: UploadStore) {
  const agent = echoAgent();
  const h = harness(agent, env);
  const socket = new FakeSocket();
  const deps = uploads ? { ...h.deps, uploads } : h.deps;
  const connection = new WsConnection(deps, socket.context);
  return { ...h, agent, socket, connection };
}

function announce(connection: WsConnection, id: string, mime: string, size: number) {
  connection.receive(JSON.stringify({
    type: "upload",
    upload_id: id,
    session_id: "s1",
    name: `file-${id}`,
    mime,
    size,
  }));
}

Deno.test("uploads: the bytes must match the declared media type (image signatures, UTF-8 text)", async (t) => {
  const { socket, connection, backend } = open();
  for (const [what, mime, bytes, accepted] of FILES) {
    await t.step(`${what}: ${accepted ? "stored" : "refused"}`, async () => {
      const id = `u${socket.frames.length}`;
      announce(connection, id, mime, bytes.length);
      connection.receive(new Uint8Array(bytes));
      const reply = await socket.until((f) => f.upload_id === id);
      if (accepted) {
        assertEquals(reply?.type, "uploaded");
        assertEquals((await backend.uploads.load("s1", id))?.mime, mime);
      } else {
        assertEquals([reply?.type, reply?.code], ["error", ErrorCode.UploadInvalid]);
        assertEquals(await backend.uploads.load("s1", id), undefined);
        console.log(`  ${what}: ${reply?.message}`);
      }
    });
  }
});

Deno.test("uploads: an unfinished upload times out with its own error, and the socket can upload again", async () => {
  const { socket, connection } = open({ UPLOAD_TIMEOUT_MS: "200" });
  announce(connection, "slow", "text/plain", 100);
  connection.receive(new TextEncoder().encode("only ten b"));
  const timedOut = socket.until((f) => f.type === "error" && f.upload_id === "slow");
  await within(timedOut, 10_000, "the upload's timeout error");
  const error = await timedOut;
  assertEquals(error?.code, ErrorCode.Timeout);
  assertStringIncludes(String(error?.message), "10 of 100 bytes");
  // The next binary frame is not taken for the dropped upload; a new upload works.
  announce(connection, "next", "text/plain", 2);
  connection.receive(new TextEncoder().encode("ok"));
  assertEquals((await socket.until((f) => f.upload_id === "next"))?.type, "uploaded");
  connection.close(1000);
});

Deno.test("a query whose socket closed while its attachments loaded never starts", async () => {
  const loading = Promise.withResolvers<void>();
  const stored: StoredUpload = {
    uploadId: "notes",
    name: "notes.txt",
    mime: "text/plain",
    size: 5,
    text: "hello",
  };
  const slowUploads: UploadStore = {
    save: () => Promise.resolve(),
    load: async () => {
      await loading.promise;
      return stored;
    },
    deleteSession: () => Promise.resolve(),
  };
  const { socket, connection, agent, hub } = open({}, slowUploads);
  connection.receive(
    JSON.stringify({ query: "what is in it?", session_id: "s1", attachments: ["notes"] }),
  );
  connection.close(1006);
  loading.resolve();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assertEquals(agent.calls.length, 0, "the agent never ran");
  assert(!socket.frames.some((f) => f.type === "session"), "no answer started");
  assertEquals(hub.local("s1"), undefined);
});

Deno.test("auth on: attachments of another identity's session get the same not_found as missing ones", async () => {
  const alice = "alice-token-0123456789abcdef";
  const bob = "bob-token-0123456789abcdefgh";
  const agent = echoAgent();
  const server = await startServer({ AUTH_TOKENS: `alice:${alice},bob:${bob}` }, { agent });
  const connect = async (token: string) => {
    const response = await fetch(`${server.url}/auth/ticket`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    });
    const { ticket } = await response.json();
    return await WsTestClient.connect(`${server.wsUrl}?ticket=${ticket}`);
  };
  const asAlice = await connect(alice);
  const asBob = await connect(bob);
  try {
    asAlice.send({
      type: "upload",
      upload_id: "secret",
      session_id: "alice-s",
      name: "plan.txt",
      mime: "text/plain",
      size: 6,
    });
    asAlice.socket.send(new TextEncoder().encode("secret"));
    assertEquals((await asAlice.next()).type, "uploaded");
    const refusal = async (uploadId: string) => {
      asBob.send({ query: "what is in it?", session_id: "alice-s", attachments: [uploadId] });
      return await asBob.next();
    };
    const existing = await refusal("secret");
    const missing = await refusal("nothing-here");
    console.log(`existing: ${existing.code} "${existing.message}"; missing: ${missing.code}`);
    assertEquals([existing.type, existing.code], ["error", ErrorCode.NotFound]);
    assertEquals([missing.type, missing.code], ["error", ErrorCode.NotFound]);
    assertEquals(
      String(existing.message).replace('"secret"', "ID"),
      String(missing.message).replace('"nothing-here"', "ID"),
    );
    assertEquals(agent.calls.length, 0, "the agent never ran for bob");
  } finally {
    await asAlice.close();
    await asBob.close();
    await server.close();
  }
});
