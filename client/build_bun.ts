/**
 * Builds the browser bundles with `Bun.build`: the same entry points as
 * `client/build.ts` (`deno task build`), the same hashed file names, gzipped
 * copies and `static/manifest.json` format, and the same `inputsHash`, so a
 * build made by one runtime is accepted as up to date by the other.
 *
 *     bun client/build_bun.ts            # into static/
 *     bun client/build_bun.ts --out DIR  # elsewhere (tests compare both builds)
 *
 * Uses `node:` modules and `Bun.build` only; it type-checks under Deno but
 * runs on Bun.
 * @module
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { BuiltFile, Manifest } from "./build.ts";

/** A manifest written by this build: {@link Manifest} plus the builder's name. */
export interface BunManifest extends Manifest {
  /** `bun <version>`. */
  builtWith: string;
}

/** The part of `Bun.build` this file uses. */
interface BunBuild {
  build(options: {
    entrypoints: string[];
    target: "browser";
    format: "esm";
    minify: boolean;
    jsx: { runtime: "automatic"; importSource: string };
  }): Promise<{
    success: boolean;
    logs: unknown[];
    outputs: { kind: string; arrayBuffer(): Promise<ArrayBuffer> }[];
  }>;
  version: string;
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** Where bundles and the manifest are written by default. */
export const STATIC_PATH: string = join(ROOT, "static");
/** Entry points, by manifest key: the same as `client/build.ts`. */
const ENTRIES = { boot: "client/boot.ts", markdown: "client/markdown.ts" } as const;
const INPUT_DIRS = ["client/"];
const INPUT_FILES = ["protocol/codes.ts", "protocol/frames.ts", "deno.json", "deno.lock"];

function bun(): BunBuild {
  const found = (globalThis as { Bun?: BunBuild }).Bun;
  if (!found) throw new Error("Cannot build with Bun: run this file with bun");
  return found;
}

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

/** Hashes the sources exactly as `hashInputs` in `client/build.ts` does. */
export async function hashInputsPortable(): Promise<string> {
  const parts: string[] = [];
  for (const path of await listInputs()) {
    const text = await readFile(join(ROOT, path), "utf8").catch(() => "");
    parts.push(`${path}\0${sha256(text)}`);
  }
  return sha256(parts.join("\n")).slice(0, 32);
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function bundle(entry: string, name: string, outDir: string): Promise<BuiltFile> {
  const result = await bun().build({
    entrypoints: [join(ROOT, entry)],
    target: "browser",
    format: "esm",
    minify: true,
    jsx: { runtime: "automatic", importSource: "preact" },
  });
  const output = result.outputs.find((o) => o.kind === "entry-point");
  if (!result.success || !output) {
    throw new Error(`Cannot bundle "${entry}": ${result.logs.map(String).join("\n")}`);
  }
  const data = new Uint8Array(await output.arrayBuffer());
  const file = `${name}-${sha256(data).slice(0, 12)}.js`;
  const zipped = gzipSync(data, { level: 9 });
  await writeAtomic(join(outDir, file), data);
  await writeAtomic(join(outDir, `${file}.gz`), zipped);
  return { file, bytes: data.byteLength, gzipBytes: zipped.byteLength };
}

/** Builds both bundles into `outDir` (default `static/`) and writes its manifest. */
export async function buildClientBun(outDir: string = STATIC_PATH): Promise<BunManifest> {
  await mkdir(outDir, { recursive: true });
  const inputsHash = await hashInputsPortable();
  const boot = await bundle(ENTRIES.boot, "boot", outDir);
  const markdown = await bundle(ENTRIES.markdown, "markdown", outDir);
  const manifest: BunManifest = {
    inputsHash,
    boot,
    markdown,
    builtAt: Date.now(),
    builtWith: `bun ${bun().version}`,
  };
  await writeAtomic(join(outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  const keep = new Set([boot.file, markdown.file].flatMap((f) => [f, `${f}.gz`]));
  for (const name of await readdir(outDir)) {
    if (/^(boot|markdown)-[0-9a-f]+\.js(\.gz)?$/.test(name) && !keep.has(name)) {
      await rm(join(outDir, name), { force: true });
    }
  }
  return manifest;
}

/**
 * Returns the manifest in `static/` when it is up to date (by either
 * builder), else builds with Bun; like `ensureClientBuild`, keeps an existing
 * build when the rebuild fails (read-only file system).
 */
export async function ensureClientBuildBun(): Promise<Manifest> {
  let manifest: Manifest | undefined;
  try {
    manifest = JSON.parse(await readFile(join(STATIC_PATH, "manifest.json"), "utf8"));
  } catch {
    manifest = undefined;
  }
  const present = (file: string) => stat(join(STATIC_PATH, file)).then(() => true, () => false);
  if (
    manifest && manifest.inputsHash === await hashInputsPortable() &&
    await present(manifest.boot.file) && await present(manifest.markdown.file)
  ) {
    return manifest;
  }
  try {
    return await buildClientBun();
  } catch (error) {
    if (!manifest) throw error;
    console.warn(`Serving the existing client build: ${error}`);
    return manifest;
  }
}

if (import.meta.main) {
  const at = process.argv.indexOf("--out");
  const outDir = at > 0 ? process.argv[at + 1] : STATIC_PATH;
  const manifest = await buildClientBun(outDir);
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  for (const part of [manifest.boot, manifest.markdown]) {
    console.log(`${join(outDir, part.file)}  ${kb(part.bytes)}  (${kb(part.gzipBytes)} gzipped)`);
  }
}
