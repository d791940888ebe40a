/**
 * The client build pipeline: bundles the boot script (islands, Preact,
 * signals), the markdown renderer (marked, DOMPurify) and the SSE pipe's
 * event source (loaded only when SSE is used) with a swappable
 * {@link Bundler}, names each by a hash of its content, writes a gzipped copy
 * beside it and lists both in `manifest.json`. The pipeline uses `node:`
 * modules only, so Deno and Bun run the same code; {@link denoBundler}
 * (`deno bundle`) is the default and `client/build_bun.ts` adapts `Bun.build`.
 *
 * Run `deno task build`, or call {@link ensureClientBuild} at start-up: it
 * rebuilds only when the manifest is missing or the sources changed.
 * @module
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** One built file. */
export interface BuiltFile {
  /** File name under `static/`, with its content hash. */
  file: string;
  /** Size in bytes. */
  bytes: number;
  /** Size gzipped, in bytes (as served to browsers that accept gzip). */
  gzipBytes: number;
}

/** What a build produced; written to `manifest.json`. */
export interface Manifest {
  /** Hash of every input file; a different hash means the build is stale. */
  inputsHash: string;
  /** The boot script: islands, Preact and signals (the initial JavaScript). */
  boot: BuiltFile;
  /** The markdown renderer, loaded after hydration. */
  markdown: BuiltFile;
  /**
   * The SSE pipe's event source (`client/transport/fetch_event_source.ts`),
   * loaded when the SSE transport first asks; absent in builds made before it.
   */
  sse?: BuiltFile;
  /** Epoch ms of the build. */
  builtAt: number;
  /** The bundler's name and version, e.g. `bun 1.3.0`. */
  builtWith?: string;
}

/** Turns one entry point into one minified ESM bundle for browsers. */
export interface Bundler {
  /** Name and version, recorded as {@link Manifest.builtWith}. */
  readonly name: string;
  /** Bundles `entry` (an absolute path); `tmpDir` is scratch space for this build. */
  bundle(entry: string, options: { root: string; tmpDir: string }): Promise<Uint8Array>;
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** Where bundles and the manifest are written by default. */
export const STATIC_DIR: URL = new URL("../static/", import.meta.url);
const STATIC_PATH = fileURLToPath(STATIC_DIR);
const ENTRIES = {
  boot: "client/boot.ts",
  markdown: "client/markdown.ts",
  sse: "client/transport/fetch_event_source.ts",
} as const;
const INPUT_DIRS = ["client/", "protocol/"];
const INPUT_FILES = ["deno.json", "deno.lock"];
const BUNDLE_NAME = /^(boot|markdown|sse)-[0-9a-f]+\.js(\.gz)?$/;

/** `deno bundle`: the default bundler. */
export const denoBundler: Bundler = {
  get name() {
    return `deno ${Deno.version.deno}`;
  },
  async bundle(entry, { root, tmpDir }) {
    const out = join(tmpDir, `${crypto.randomUUID()}.js`);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "--format", "esm", "--minify"]
        .concat(["--output", out, entry]),
      cwd: root,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new Error(`Cannot bundle "${entry}": ${new TextDecoder().decode(stderr).trim()}`);
    }
    return await Deno.readFile(out);
  },
};

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

async function listInputs(): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory()) await walk(`${path}/`);
      else if (/\.(ts|tsx|css)$/.test(entry.name)) files.push(path);
    }
  };
  for (const dir of INPUT_DIRS) await walk(dir);
  return [...files.sort(), ...INPUT_FILES];
}

/** Hashes the sources the bundles are built from. */
export async function hashInputs(): Promise<string> {
  const parts: string[] = [];
  for (const path of await listInputs()) {
    const text = await readFile(join(ROOT, path), "utf8").catch(() => "");
    parts.push(`${path}\0${sha256(text)}`);
  }
  return sha256(parts.join("\n")).slice(0, 32);
}

/** Reads the manifest in `outDir` (default `static/`); undefined when missing or unreadable. */
export async function readManifest(outDir: string = STATIC_PATH): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await readFile(join(outDir, "manifest.json"), "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Writes one bundle under its content hash, with a gzipped copy. */
async function emit(name: string, data: Uint8Array, outDir: string): Promise<BuiltFile> {
  const file = `${name}-${sha256(data).slice(0, 12)}.js`;
  const zipped = gzipSync(data, { level: 9 });
  await writeAtomic(join(outDir, file), data);
  await writeAtomic(join(outDir, `${file}.gz`), zipped);
  return { file, bytes: data.byteLength, gzipBytes: zipped.byteLength };
}

/** Options for {@link buildClient} and {@link ensureClientBuild}. */
export interface BuildOptions {
  /** Default {@link denoBundler}. */
  bundler?: Bundler;
  /** Where to write; default `static/` at the repo root. */
  outDir?: string;
}

/** Builds the bundles, writes the manifest and removes older bundles; returns the manifest. */
export async function buildClient(options: BuildOptions = {}): Promise<Manifest> {
  const { bundler = denoBundler, outDir = STATIC_PATH } = options;
  await mkdir(outDir, { recursive: true });
  const inputsHash = await hashInputs();
  const tmpDir = await mkdtemp(join(tmpdir(), "chat-client-build-"));
  try {
    const built = async (name: keyof typeof ENTRIES) =>
      await emit(
        name,
        await bundler.bundle(join(ROOT, ENTRIES[name]), { root: ROOT, tmpDir }),
        outDir,
      );
    const boot = await built("boot");
    const markdown = await built("markdown");
    const sse = await built("sse");
    const manifest: Manifest = {
      inputsHash,
      boot,
      markdown,
      sse,
      builtAt: Date.now(),
      builtWith: bundler.name,
    };
    await writeAtomic(join(outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    const keep = new Set(builtFiles(manifest).flatMap((f) => [f.file, `${f.file}.gz`]));
    for (const name of await readdir(outDir)) {
      if (BUNDLE_NAME.test(name) && !keep.has(name)) await rm(join(outDir, name), { force: true });
    }
    return manifest;
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}

/** The bundles a manifest lists. */
function builtFiles(manifest: Manifest): BuiltFile[] {
  return [manifest.boot, manifest.markdown, manifest.sse].filter((f) => f !== undefined);
}

const present = (path: string) => stat(path).then(() => true, () => false);
let ensuring: Promise<Manifest> | undefined;

/**
 * Returns the manifest of an up-to-date build in `static/` (made by either
 * bundler), building first when the manifest or a bundle is missing or the
 * sources changed since. When the rebuild fails but a build exists
 * (read-only file system), warns and keeps the existing build. Concurrent
 * calls in one process share one build.
 */
export function ensureClientBuild(options: { bundler?: Bundler } = {}): Promise<Manifest> {
  ensuring ??= (async () => {
    const manifest = await readManifest();
    if (
      manifest && manifest.inputsHash === await hashInputs() && manifest.sse &&
      (await Promise.all(builtFiles(manifest).map((f) => present(join(STATIC_PATH, f.file)))))
        .every(Boolean)
    ) {
      return manifest;
    }
    try {
      return await buildClient({ bundler: options.bundler });
    } catch (error) {
      // A read-only deployment (e.g. Deno Deploy) serves what was built.
      if (!manifest) throw error;
      console.warn(`Serving the existing client build: ${error}`);
      return manifest;
    }
  })().finally(() => ensuring = undefined);
  return ensuring;
}

/** Prints what a build wrote, for the command line. */
export function printBuild(manifest: Manifest, outDir: string = STATIC_PATH): void {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  for (const part of builtFiles(manifest)) {
    console.log(`${join(outDir, part.file)}  ${kb(part.bytes)}  (${kb(part.gzipBytes)} gzipped)`);
  }
}

if (import.meta.main) printBuild(await buildClient());
