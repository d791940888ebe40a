/**
 * Which JavaScript runtime runs the bench, where the other one's executable
 * is, and the clock every bench measurement uses.
 *
 * Portable between Deno and Bun: only `node:` modules and web globals.
 * @module
 */
import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** A JavaScript runtime the bench and the servers can run on. */
export type Runtime = "deno" | "bun";

/** Both runtimes, in report order. */
export const RUNTIMES: readonly Runtime[] = ["deno", "bun"];

/** The runtime executing the bench code. */
export const RUNTIME: Runtime = "Bun" in globalThis ? "bun" : "deno";

/** Version string of the runtime executing the bench code. */
export const RUNTIME_VERSION: string = RUNTIME === "bun"
  ? String((globalThis as unknown as { Bun: { version: string } }).Bun.version)
  : (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno
    .version.deno;

/** Repository root (the folder holding `main.ts`). */
export const ROOT: string = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/** Path of the Deno executable, also when the bench runs under Bun. */
export const DENO_BIN: string = RUNTIME === "deno"
  ? (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath()
  : "deno";

/** Path of the Bun executable, also when the bench runs under Deno. */
export const BUN_BIN: string = RUNTIME === "bun"
  ? (globalThis as unknown as { process: { execPath: string } }).process.execPath
  : "bun";

/** Executable of a runtime. */
export function runtimeBin(runtime: Runtime): string {
  return runtime === "bun" ? BUN_BIN : DENO_BIN;
}

/** Where a process writes its CPU profile on exit, and how often it samples. */
export interface CpuProfileFlags {
  dir: string;
  intervalUs: number;
}

/**
 * The command line that runs a script on a runtime (`deno run -A` or
 * `bun`), with `--cpu-prof` when `opts.cpuProfile` is given (both runtimes
 * take the same flags and write the profile when the process exits).
 */
export function runtimeArgv(
  runtime: Runtime,
  script: string,
  opts: { denoFlags?: string[]; cpuProfile?: CpuProfileFlags } = {},
): string[] {
  const prof = opts.cpuProfile
    ? [
      "--cpu-prof",
      `--cpu-prof-dir=${opts.cpuProfile.dir}`,
      `--cpu-prof-interval=${opts.cpuProfile.intervalUs}`,
    ]
    : [];
  return runtime === "bun"
    ? [BUN_BIN, ...prof, script]
    : [DENO_BIN, "run", "-A", ...(opts.denoFlags ?? []), ...prof, script];
}

const availability = new Map<Runtime, string | undefined>();

/**
 * Version of a runtime's executable (`deno --version` / `bun --version`,
 * first line), or undefined when it is not installed. Cached.
 */
export function runtimeVersionOf(runtime: Runtime): string | undefined {
  if (runtime === RUNTIME) return RUNTIME_VERSION;
  if (!availability.has(runtime)) {
    let version: string | undefined;
    try {
      const r = spawnSync(runtimeBin(runtime), ["--version"], {
        encoding: "utf8",
        timeout: 10_000,
      });
      if (r.status === 0) {
        // "deno 2.9.6 (stable, ...)" or "1.4.5": keep the version number.
        version = String(r.stdout).trim().replace(/^deno /, "").split(/\s/)[0];
      }
    } catch {
      version = undefined;
    }
    availability.set(runtime, version);
  }
  return availability.get(runtime);
}

/** True when a runtime's executable can be started from here. */
export function runtimeAvailable(runtime: Runtime): boolean {
  return runtimeVersionOf(runtime) !== undefined;
}

/** Epoch milliseconds with sub-millisecond precision, like the server's `ts`. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
