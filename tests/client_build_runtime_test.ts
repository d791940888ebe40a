/**
 * One client build pipeline, two bundlers: the pipeline (`client/build.ts`)
 * names, gzips and lists whatever the bundler returns, and the bundles built
 * by Deno (`deno task build`) and by Bun (`bun client/build_bun.ts`, as CI
 * runs it) both hydrate every island of the page in Chromium and load the
 * markdown renderer.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import {
  buildClient,
  type Bundler,
  denoBundler,
  ensureClientBuild,
  hashInputs,
  type Manifest,
  readManifest,
  STATIC_DIR,
} from "../client/build.ts";
import { pageRoutes } from "../server/page.tsx";
import type { SessionStore } from "../server/store/types.ts";
import { HAS_CHROMIUM, launchChromium, warnIfNoChromium } from "./helpers/chromium.ts";
import { BUN, BUN_VERSION, warnIfNoBun } from "./helpers/runtimes.ts";

warnIfNoChromium("Bundle comparison in Chromium is");
warnIfNoBun();

const emptyStore: SessionStore = {
  load: () => Promise.resolve([]),
  append: () => Promise.resolve(),
  truncate: () => Promise.resolve(),
  listChats: () => Promise.resolve([]),
  saveChat: () => Promise.resolve([]),
  touchChat: () => Promise.resolve(),
  removeChat: () => Promise.resolve(false),
  close() {},
};

Deno.test("the build pipeline names, gzips and lists what the bundler returns, and prunes old bundles", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "chat-pipeline-" });
  try {
    await Deno.writeTextFile(`${outDir}/boot-0123456789ab.js`, "stale");
    await Deno.writeTextFile(`${outDir}/notes.txt`, "not a bundle");
    const returned = new Map<string, Uint8Array>();
    const recording: Bundler = {
      name: denoBundler.name,
      async bundle(entry, options) {
        const bytes = await denoBundler.bundle(entry, options);
        returned.set(entry.replace(/^.*\/client\//, "client/"), bytes);
        return bytes;
      },
    };
    const manifest = await buildClient({ bundler: recording, outDir });
    assertEquals([...returned.keys()], [
      "client/boot.ts",
      "client/markdown.ts",
      "client/transport/fetch_event_source.ts",
    ]);
    assertEquals(manifest.inputsHash, await hashInputs());
    assertEquals(manifest.builtWith, denoBundler.name);
    assertEquals(await readManifest(outDir), manifest);
    for (
      const [part, entry] of [
        [manifest.boot, "client/boot.ts"],
        [manifest.markdown, "client/markdown.ts"],
        [manifest.sse!, "client/transport/fetch_event_source.ts"],
      ] as const
    ) {
      const bytes = returned.get(entry)!;
      const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 12);
      assertMatch(part.file, new RegExp(`^(boot|markdown|sse)-${hash}\\.js$`));
      assertEquals(await Deno.readFile(`${outDir}/${part.file}`), bytes);
      const zipped = await Deno.readFile(`${outDir}/${part.file}.gz`);
      assertEquals(new Uint8Array(gunzipSync(zipped)), bytes);
      assertEquals(part.bytes, bytes.byteLength);
      assertEquals(part.gzipBytes, zipped.byteLength);
    }
    const names = [...Deno.readDirSync(outDir)].map((e) => e.name).sort();
    assertEquals(
      names,
      [
        manifest.boot.file,
        `${manifest.boot.file}.gz`,
        "manifest.json",
        manifest.markdown.file,
        `${manifest.markdown.file}.gz`,
        manifest.sse!.file,
        `${manifest.sse!.file}.gz`,
        "notes.txt",
      ].sort(),
      "the stale bundle is removed, other files stay",
    );
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

/** What loading the page with one build shows. */
interface Loaded {
  islands: number;
  hydrated: number;
  markdown: string;
  errors: string[];
}

async function loadInChromium(manifest: Manifest, staticDir: URL): Promise<Loaded> {
  const app = pageRoutes({ store: emptyStore, manifest, staticDir });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const browser = await launchChromium();
  const context = browser.context;
  try {
    const page = await context.newPage();
    // Uncaught exceptions only: the page-only server has no /ws/chat, so the
    // client's connection attempts log 404s, which say nothing about the bundle.
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`http://127.0.0.1:${server.addr.port}/`);
    await page.waitForSelector('[data-island="Chat"][data-hydrated]');
    const islands = await page.locator("[data-island]").count();
    const hydrated = await page.locator("[data-island][data-hydrated]").count();
    const markdown = await page.evaluate(async (url) => {
      const mod = await import(url);
      return mod.renderMarkdown("**bold** <img src=x onerror=alert(1)>") as string;
    }, `/static/${manifest.markdown.file}`);
    return { islands, hydrated, markdown, errors };
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

Deno.test({
  name: `Deno and Bun (${BUN_VERSION ?? "missing"}) bundles both load and hydrate the page`,
  ignore: !HAS_CHROMIUM || BUN_VERSION === undefined,
  async fn() {
    const denoManifest = await ensureClientBuild();
    const bunDir = await Deno.makeTempDir({ prefix: "chat-bun-build-" });
    try {
      const { code, stderr } = await new Deno.Command(BUN, {
        args: ["client/build_bun.ts", "--out", bunDir],
        cwd: new URL("../", import.meta.url).pathname,
        stdout: "null",
        stderr: "piped",
      }).output();
      assertEquals(code, 0, new TextDecoder().decode(stderr));
      const bunManifest = await readManifest(bunDir);
      assert(bunManifest, "the Bun build wrote no readable manifest");
      // Both bundlers go through the same pipeline: the same manifest shape.
      assertEquals(Object.keys(bunManifest).sort(), Object.keys(denoManifest).sort());
      assertEquals(bunManifest.inputsHash, denoManifest.inputsHash);
      assertMatch(bunManifest.boot.file, /^boot-[0-9a-f]{12}\.js$/);
      assertMatch(bunManifest.markdown.file, /^markdown-[0-9a-f]{12}\.js$/);
      assertMatch(bunManifest.sse?.file ?? "", /^sse-[0-9a-f]{12}\.js$/);
      assertStringIncludes(bunManifest.builtWith ?? "", "bun ");
      const results: Record<string, Loaded> = {
        deno: await loadInChromium(denoManifest, STATIC_DIR),
        bun: await loadInChromium(bunManifest, new URL(`file://${bunDir}/`)),
      };
      for (const [builder, loaded] of Object.entries(results)) {
        assertEquals(loaded.errors, [], `${builder} build: errors in the page`);
        assert(loaded.islands >= 2, `${builder} build: the page has ${loaded.islands} islands`);
        assertEquals(
          loaded.hydrated,
          loaded.islands,
          `${builder} build: not every island hydrated`,
        );
        assertStringIncludes(loaded.markdown, "<strong>bold</strong>");
        assert(!loaded.markdown.includes("onerror"), `${builder} build: markdown not sanitised`);
      }
      assertEquals(results.bun.markdown, results.deno.markdown);
      const kb = (m: Manifest) =>
        `boot ${(m.boot.gzipBytes / 1024).toFixed(1)} KB gz, markdown ${
          (m.markdown.gzipBytes / 1024).toFixed(1)
        } KB gz`;
      console.log(`deno bundle: ${kb(denoManifest)}; bun bundle: ${kb(bunManifest)}`);
    } finally {
      await Deno.remove(bunDir, { recursive: true });
    }
  },
});
