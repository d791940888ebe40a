/**
 * Runs the whole suite (what users feel: time to first chunk, CPU per chunk
 * and idle memory against raw and the seed's FastAPI stack; where the CPU
 * per chunk goes, ours against raw, by thread and by part of the code; latency;
 * concurrent connections; browser limit) and
 * writes `bench/results/<date>-<runtime>.md` and `.json` plus SVG charts,
 * printing progress to stderr as it goes.
 *
 * ```
 * deno run -A bench/report.ts                 # full run
 * deno run -A bench/report.ts --smoke         # seconds, tiny N
 * deno run -A bench/report.ts --load-client bun --out /tmp/x
 * deno run -A bench/report.ts --servers ours-deno,raw-deno   # latency servers
 * deno run -A bench/report.ts --load-server-runtime both     # load ramp on both
 * deno run -A bench/report.ts --skip-user --skip-latency --skip-load --skip-browser --out /tmp/x
 *                                             # only where the CPU per chunk goes
 * bun bench/report.ts                         # the same, bench and clients on Bun
 * ```
 *
 * Latency compares `ours-deno`, `raw-deno`, `ours-bun` and `raw-bun` in one
 * round-robin by default (the Bun servers skipped with a note when `bun` is
 * not installed); the load ramp runs the Deno server unless
 * `--load-server-runtime bun|both`. Files are named `<date>-<runtime>` after
 * the runtime running this file: `-deno` or `-bun`.
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { FULL_BROWSER, runBrowser, SMOKE_BROWSER } from "./browser.ts";
import { parseFlags, parseNumbers, pickChoice } from "./lib/args.ts";
import { parseServerRuntimes, parseServers, type ServerSpec } from "./lib/launch.ts";
import { FULL_LATENCY, runLatency, SMOKE_LATENCY } from "./lib/latency.ts";
import { FULL_USER, runUserMeasures, SMOKE_USER } from "./lib/user_measures.ts";
import { FULL_WHERE, runWhereCpu, SMOKE_WHERE } from "./lib/where_cpu.ts";
import {
  ROOT,
  RUNTIME,
  type Runtime,
  RUNTIME_VERSION,
  RUNTIMES,
  runtimeVersionOf,
} from "./lib/runtime.ts";
import { FULL_LOAD, type LoadOptions, runLoadRamp, SMOKE_LOAD } from "./load.ts";
import { renderReport, type SuiteResult } from "./report/mod.ts";

export type { SuiteResult };

/** Options of {@link runSuite}. */
export interface SuiteOptions {
  smoke?: boolean;
  skipLoad?: boolean;
  skipBrowser?: boolean;
  skipLatency?: boolean;
  /** Skip time to first chunk / CPU per chunk / idle memory. */
  skipUser?: boolean;
  /** Skip where the CPU per chunk goes (the profiled runs). */
  skipProfile?: boolean;
  loadClient?: Runtime;
  /** Servers of the latency comparison (default all four). */
  servers?: ServerSpec[];
  /** Server runtimes of the load ramp (default `["deno"]`). */
  loadServerRuntimes?: Runtime[];
  /** Override of the load levels. */
  levels?: number[];
  log?: (line: string) => void;
}

/** Runs the suite. */
export async function runSuite(opts: SuiteOptions = {}): Promise<SuiteResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const result: SuiteResult = {
    date: new Date().toISOString(),
    runtime: RUNTIME,
    runtimeVersion: RUNTIME_VERSION,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      memGiB: Math.round(totalmem() / 2 ** 30),
      os: `${process.platform} ${process.arch}`,
    },
    smoke: !!opts.smoke,
    serverRuntimes: Object.fromEntries(RUNTIMES.map((rt) => [rt, runtimeVersionOf(rt)])),
    durationMs: 0,
  };
  if (!opts.skipUser) {
    log("== what users feel (TTFC, CPU per chunk, idle memory)");
    result.user = await runUserMeasures({
      ...(opts.smoke ? SMOKE_USER : FULL_USER),
      servers: opts.servers,
      log,
    });
  }
  if (!opts.skipProfile) {
    log("== where the CPU per chunk goes (plain and profiled runs, ours and raw)");
    const runtimes = opts.servers ? [...new Set(opts.servers.map((s) => s.runtime))] : undefined;
    result.whereCpu = await runWhereCpu({
      ...(opts.smoke ? SMOKE_WHERE : FULL_WHERE),
      runtimes,
      log,
    });
  }
  if (!opts.skipLatency) {
    log("== latency");
    result.latency = await runLatency({
      ...(opts.smoke ? SMOKE_LATENCY : FULL_LATENCY),
      servers: opts.servers,
      log,
    });
  }
  if (!opts.skipLoad) {
    log("== concurrent connections");
    const options: LoadOptions = {
      ...(opts.smoke ? SMOKE_LOAD : FULL_LOAD),
      client: opts.loadClient,
      serverRuntimes: opts.loadServerRuntimes,
      log,
    };
    if (opts.levels) options.levels = opts.levels;
    const levels = await runLoadRamp(options);
    delete options.log;
    result.load = { options: { ...options, client: options.client ?? RUNTIME }, levels };
  }
  if (!opts.skipBrowser) {
    log("== browser connection limit");
    result.browser = await runBrowser({
      ...(opts.smoke ? SMOKE_BROWSER : FULL_BROWSER),
      log,
    });
    if (result.browser.skipped) log(`browser: skipped: ${result.browser.skipped}`);
  }
  result.durationMs = Math.round(performance.now() - t0);
  return result;
}

/** Writes the report files; returns their paths. */
export function writeReport(
  r: SuiteResult,
  dir: string,
  baseName = `${r.date.slice(0, 10)}-${r.runtime}`,
): string[] {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  const files = renderReport(r, baseName);
  files.set(`${baseName}.json`, JSON.stringify(r, null, 2));
  for (const [name, content] of files) {
    const path = join(dir, name);
    writeFileSync(path, content);
    paths.push(path);
  }
  return paths;
}

/** The flags of this script. */
const FLAGS = {
  smoke: "boolean",
  "skip-load": "boolean",
  "skip-browser": "boolean",
  "skip-latency": "boolean",
  "skip-user": "boolean",
  "skip-profile": "boolean",
  "load-client": "string",
  levels: "string",
  servers: "string",
  "load-server-runtime": "string",
  from: "string",
  out: "string",
} as const;

if (import.meta.main) {
  const start = performance.now();
  const log = (line: string) =>
    console.error(`[${((performance.now() - start) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  const args = parseFlags(FLAGS);
  const dir = args.out ?? join(ROOT, "bench", "results");
  // --from: re-render a report from its JSON (e.g. after a wording change).
  const result: SuiteResult = args.from
    ? JSON.parse(readFileSync(args.from, "utf8"))
    : await runSuite({
      smoke: args.smoke,
      skipLoad: args["skip-load"],
      skipBrowser: args["skip-browser"],
      skipLatency: args["skip-latency"],
      skipUser: args["skip-user"],
      skipProfile: args["skip-profile"],
      loadClient: pickChoice(args["load-client"], RUNTIMES),
      servers: args.servers ? parseServers(args.servers) : undefined,
      loadServerRuntimes: parseServerRuntimes(args["load-server-runtime"]),
      levels: parseNumbers(args.levels),
      log,
    });
  for (const p of writeReport(result, dir)) log(`wrote ${p}`);
  process.exit(0);
}
