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
import { within } from "./helpers/within.ts";

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
