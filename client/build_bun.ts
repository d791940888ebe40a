/**
 * The `Bun.build` adapter of the client build pipeline (`client/build.ts`):
 * same entry points, hashed names, gzipped copies, manifest and inputs hash,
 * so a build made by one runtime is accepted as up to date by the other.
 *
 *     bun client/build_bun.ts            # into static/
 *     bun client/build_bun.ts --out DIR  # elsewhere
 *
 * Type-checks under Deno but runs on Bun.
 * @module
 */
import process from "node:process";
import {
  buildClient,
  type Bundler,
  ensureClientBuild,
  type Manifest,
  printBuild,
} from "./build.ts";

/** The part of the `Bun` global this adapter uses. */
interface BunGlobal {
  version: string;
  build(options: Record<string, unknown>): Promise<{
    success: boolean;
    logs: unknown[];
    outputs: { kind: string; arrayBuffer(): Promise<ArrayBuffer> }[];
  }>;
}

const bun = (): BunGlobal => {
  const found = (globalThis as { Bun?: BunGlobal }).Bun;
  if (!found) throw new Error("Cannot build with Bun: run this file with bun");
  return found;
};

/** `Bun.build` as a {@link Bundler}. */
export const bunBundler: Bundler = {
  get name() {
    return `bun ${bun().version}`;
  },
  async bundle(entry) {
    const result = await bun().build({
      entrypoints: [entry],
      target: "browser",
      format: "esm",
      minify: true,
      jsx: { runtime: "automatic", importSource: "preact" },
    });
    const output = result.outputs.find((o) => o.kind === "entry-point");
    if (!result.success || !output) {
      throw new Error(`Cannot bundle "${entry}": ${result.logs.map(String).join("\n")}`);
    }
    return new Uint8Array(await output.arrayBuffer());
  },
};

/** {@link ensureClientBuild} with Bun as the bundler. */
export function ensureClientBuildBun(): Promise<Manifest> {
  return ensureClientBuild({ bundler: bunBundler });
}

if (import.meta.main) {
  const at = process.argv.indexOf("--out");
  const outDir = at > 0 ? process.argv[at + 1] : undefined;
  printBuild(await buildClient({ bundler: bunBundler, outDir }), outDir);
}
