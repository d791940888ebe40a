/**
 * Builds the browser bundles with `deno bundle`: the boot script (islands,
 * Preact, signals) and the markdown renderer (marked, DOMPurify), each named
 * by a hash of its content, gzipped beside, and listed in
 * `static/manifest.json`.
 *
 * Run `deno task build`, or call {@link ensureClientBuild} at start-up: it
 * rebuilds only when the manifest is missing or the sources changed.
 * @module
 */

/** One built file. */
export interface BuiltFile {
  /** File name under `static/`, with its content hash. */
  file: string;
  /** Size in bytes. */
  bytes: number;
  /** Size gzipped, in bytes (as served to browsers that accept gzip). */
  gzipBytes: number;
}

/** What a build produced; written to `static/manifest.json`. */
export interface Manifest {
  /** Hash of every input file; a different hash means the build is stale. */
  inputsHash: string;
  /** The boot script: islands, Preact and signals (the initial JavaScript). */
  boot: BuiltFile;
  /** The markdown renderer, loaded after hydration. */
  markdown: BuiltFile;
  /** Epoch ms of the build. */
  builtAt: number;
}

const ROOT = new URL("../", import.meta.url);
/** Where bundles and the manifest are written. */
export const STATIC_DIR: URL = new URL("static/", ROOT);
const MANIFEST = new URL("manifest.json", STATIC_DIR);
const ENTRIES = { boot: "client/boot.ts", markdown: "client/markdown.ts" };
const INPUT_DIRS = ["client/"];
const INPUT_FILES = [
  "protocol/codes.ts",
  "protocol/frames.ts",
  "deno.json",
  "deno.lock",
];

async function hex(data: BufferSource, length = 64): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("").slice(0, length);
}

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function listInputs(): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory) await walk(`${path}/`);
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
    let text = "";
    try {
      text = await Deno.readTextFile(new URL(path, ROOT));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    parts.push(`${path}\0${await hex(new TextEncoder().encode(text))}`);
  }
  return await hex(new TextEncoder().encode(parts.join("\n")), 32);
}

/** Reads `static/manifest.json`; undefined when missing or unreadable. */
export async function readManifest(): Promise<Manifest | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(MANIFEST)) as Manifest;
  } catch {
    return undefined;
  }
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomic(url: URL, data: Uint8Array | string): Promise<void> {
  const tmp = new URL(`${url.href}.${crypto.randomUUID()}.tmp`);
  if (typeof data === "string") await Deno.writeTextFile(tmp, data);
  else await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, url);
}

async function bundle(
  entry: string,
  name: string,
  tmpDir: string,
): Promise<BuiltFile> {
  const out = `${tmpDir}/${name}.js`;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--format",
      "esm",
      "--minify",
      "--output",
      out,
      entry,
    ],
    cwd: new URL(".", ROOT).pathname,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `Cannot bundle "${entry}": ${new TextDecoder().decode(stderr).trim()}`,
    );
  }
  const data = await Deno.readFile(out);
  const file = `${name}-${await hex(data, 12)}.js`;
  const zipped = await gzip(data);
  await writeAtomic(new URL(file, STATIC_DIR), data);
  await writeAtomic(new URL(`${file}.gz`, STATIC_DIR), zipped);
  return { file, bytes: data.byteLength, gzipBytes: zipped.byteLength };
}

/** Builds both bundles and writes the manifest; returns the manifest. */
export async function buildClient(): Promise<Manifest> {
  await Deno.mkdir(STATIC_DIR, { recursive: true });
  const inputsHash = await hashInputs();
  const tmpDir = await Deno.makeTempDir({ prefix: "chat-client-build-" });
  try {
    const boot = await bundle(ENTRIES.boot, "boot", tmpDir);
    const markdown = await bundle(ENTRIES.markdown, "markdown", tmpDir);
    const manifest: Manifest = {
      inputsHash,
      boot,
      markdown,
      builtAt: Date.now(),
    };
    await writeAtomic(MANIFEST, JSON.stringify(manifest, null, 2) + "\n");
    const keep = new Set(
      [boot.file, markdown.file].flatMap((f) => [f, `${f}.gz`]),
    );
    for await (const entry of Deno.readDir(STATIC_DIR)) {
      if (
        /^(boot|markdown)-[0-9a-f]+\.js(\.gz)?$/.test(entry.name) &&
        !keep.has(entry.name)
      ) {
        await Deno.remove(new URL(entry.name, STATIC_DIR)).catch(() => {});
      }
    }
    return manifest;
  } finally {
    await Deno.remove(tmpDir, { recursive: true });
  }
}

let ensuring: Promise<Manifest> | undefined;

/**
 * Returns the manifest of an up-to-date build, building first when the
 * manifest or a bundle is missing or the sources changed since. When the
 * rebuild fails but a build exists (read-only file system), warns and keeps
 * the existing build. Concurrent calls in one process share one build.
 */
export function ensureClientBuild(): Promise<Manifest> {
  ensuring ??= (async () => {
    const manifest = await readManifest();
    if (
      manifest && manifest.inputsHash === await hashInputs() &&
      await exists(new URL(manifest.boot.file, STATIC_DIR)) &&
      await exists(new URL(manifest.markdown.file, STATIC_DIR))
    ) {
      return manifest;
    }
    try {
      return await buildClient();
    } catch (error) {
      // A read-only deployment (e.g. Deno Deploy) serves what was built.
      if (!manifest) throw error;
      console.warn(`Serving the existing client build: ${error}`);
      return manifest;
    }
  })().finally(() => ensuring = undefined);
  return ensuring;
}

if (import.meta.main) {
  const manifest = await buildClient();
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  for (const part of [manifest.boot, manifest.markdown]) {
    console.log(
      `static/${part.file}  ${kb(part.bytes)}  (${kb(part.gzipBytes)} gzipped)`,
    );
  }
}
