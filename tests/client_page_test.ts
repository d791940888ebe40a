/**
 * The server-rendered page, the static bundle routes and the client build:
 * history rendered from the `session_id` cookie, escaping, island markers,
 * cache headers, and the initial-JavaScript size budget.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { ensureClientBuild, hashInputs, type Manifest } from "../client/build.ts";
import type { Turn } from "../server/agents/types.ts";
import { pageRoutes } from "../server/page.tsx";
import type { SessionStore } from "../server/store/types.ts";

/** Initial JavaScript budget (boot + islands + Preact + signals), gzipped. */
const BUDGET_BYTES = 30 * 1024;

function memoryStore(sessions: Record<string, Turn[]>): SessionStore & { loads: string[] } {
  const loads: string[] = [];
  return {
    loads,
    load: (id) => {
      loads.push(id);
      return Promise.resolve(sessions[id] ?? []);
    },
    append: () => Promise.resolve(),
    truncate: () => Promise.resolve(),
    listChats: () => Promise.resolve([]),
    saveChat: () => Promise.resolve([]),
    touchChat: () => Promise.resolve(),
    removeChat: () => Promise.resolve(false),
    close: () => {},
  };
}

const MANIFEST: Manifest = {
  inputsHash: "x",
  boot: { file: "boot-0123456789ab.js", bytes: 1, gzipBytes: 1 },
  markdown: { file: "markdown-0123456789ab.js", bytes: 1, gzipBytes: 1 },
  builtAt: 0,
};

function islandProps(html: string, name: string): Record<string, unknown> {
  const match = html.match(new RegExp(`data-island="${name}" data-props="([^"]*)"`));
  assert(match, `island ${name} is marked`);
  const json = match[1].replaceAll("&quot;", '"').replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  return JSON.parse(json);
}

Deno.test("GET / renders the shell and marks the islands", async () => {
  const app = pageRoutes({ store: memoryStore({}), manifest: MANIFEST });
  const res = await app.request("/");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("cache-control"), "no-store");
  assertStringIncludes(res.headers.get("content-security-policy") ?? "", "script-src 'self'");
  const html = await res.text();
  assert(html.startsWith("<!doctype html>"));
  assertStringIncludes(html, '<script type="module" src="/static/boot-0123456789ab.js">');
  assertEquals(islandProps(html, "Chat"), {
    transport: "ws",
    history: [],
    markdownUrl: "/static/markdown-0123456789ab.js",
  });
  assertEquals(islandProps(html, "MetricsStrip"), {});
  assertStringIncludes(html, "No messages yet");
});

Deno.test("GET / renders the history of the cookie's session, escaped", async () => {
  const store = memoryStore({
    s_1: [{
      query: "hi <b>there</b>",
      answer: "**bold** </script><img src=x onerror=alert(1)>",
      finishReason: "stop",
      tools: ["calculator"],
      at: 1,
    }, {
      query: "second",
      answer: "partial",
      finishReason: "cancelled",
      tools: [],
      at: 2,
    }],
  });
  const app = pageRoutes({ store, manifest: MANIFEST });
  const res = await app.request("/", {
    headers: { cookie: "session_id=s_1; transport=sse" },
  });
  const html = await res.text();
  assertEquals(store.loads, ["s_1"]);
  assertStringIncludes(html, "hi &lt;b>there&lt;/b>");
  assertStringIncludes(html, "&lt;img src=x onerror=alert(1)>");
  assert(!html.includes("<img src=x"), "model text never becomes markup");
  assert(!/<\/script><img/.test(html));
  assertStringIncludes(html, 'data-state="cancelled"');
  assertStringIncludes(html, "Used: calculator");
  const props = islandProps(html, "Chat");
  assertEquals(props.sessionId, "s_1");
  assertEquals(props.transport, "sse");
  assertEquals((props.history as unknown[]).length, 2);
  assertMatch(html, /<input type="radio" name="transport" value="sse" checked/);
});

Deno.test("GET / ignores an invalid session cookie", async () => {
  const store = memoryStore({});
  const app = pageRoutes({ store, manifest: MANIFEST });
  const res = await app.request("/", {
    headers: { cookie: "session_id=..%2Fetc; transport=carrier-pigeon" },
  });
  const html = await res.text();
  assertEquals(store.loads, []);
  assertEquals(islandProps(html, "Chat").transport, "ws");
});

Deno.test("GET /static serves hashed bundles immutable and gzipped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/boot-0123456789ab.js`, "console.log(1)");
    await Deno.writeFile(
      `${dir}/boot-0123456789ab.js.gz`,
      new Uint8Array(
        await new Response(
          new Blob(["console.log(1)"]).stream().pipeThrough(new CompressionStream("gzip")),
        ).arrayBuffer(),
      ),
    );
    await Deno.writeTextFile(`${dir}/secret.txt`, "no");
    const app = pageRoutes({
      store: memoryStore({}),
      manifest: MANIFEST,
      staticDir: new URL(`file://${dir}/`),
    });
    const plain = await app.request("/static/boot-0123456789ab.js");
    assertEquals(plain.status, 200);
    assertEquals(plain.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assertEquals(plain.headers.get("content-type"), "text/javascript; charset=utf-8");
    assertEquals(await plain.text(), "console.log(1)");
    const zipped = await app.request("/static/boot-0123456789ab.js", {
      headers: { "accept-encoding": "gzip, br" },
    });
    assertEquals(zipped.headers.get("content-encoding"), "gzip");
    await zipped.body?.cancel();
    for (
      const path of [
        "/static/secret.txt",
        "/static/missing-0123456789ab.js",
        "/static/..%2Fdeno.json",
      ]
    ) {
      const res = await app.request(path);
      assertEquals(res.status, 404, path);
      await res.body?.cancel();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client build is hashed, up to date and within the size budget", async () => {
  const manifest = await ensureClientBuild();
  assertEquals(manifest.inputsHash, await hashInputs());
  assertMatch(manifest.boot.file, /^boot-[0-9a-f]{12}\.js$/);
  assertMatch(manifest.markdown.file, /^markdown-[0-9a-f]{12}\.js$/);
  const boot = await Deno.readTextFile(new URL(`../static/${manifest.boot.file}`, import.meta.url));
  assert(!/ZodError|zod/i.test(boot), "zod is not shipped to the browser");
  assert(
    manifest.boot.gzipBytes <= BUDGET_BYTES,
    `Initial JavaScript is ${manifest.boot.gzipBytes} bytes gzipped, over the ${BUDGET_BYTES} byte budget`,
  );
  console.log(
    `initial JS ${(manifest.boot.gzipBytes / 1024).toFixed(1)} KB gzipped; ` +
      `markdown (lazy) ${(manifest.markdown.gzipBytes / 1024).toFixed(1)} KB gzipped`,
  );
  // A second call with unchanged sources reuses the build.
  assertEquals((await ensureClientBuild()).builtAt, manifest.builtAt);
});

Deno.test("GET / passes the upload limit to the Chat island and renders the Attach button", async () => {
  const app = pageRoutes({ store: memoryStore({}), manifest: MANIFEST, uploadMaxBytes: 4096 });
  const html = await (await app.request("/")).text();
  assertEquals(islandProps(html, "Chat").uploadMaxBytes, 4096);
  assertMatch(html, /<button[^>]*aria-label="Attach a file"/);
  assertMatch(html, /<input type="file"[^>]*aria-hidden="true"/);
});
