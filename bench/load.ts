/**
 * Concurrent-connection ramp: for each transport and each level it starts
 * a fresh server (`ulimit -n` raised), runs {@link ./load_gen.ts} in a
 * separate process, and samples the server's RSS and CPU from `/proc`:
 * before any connection (base), with every WebSocket open and idle, and
 * while streaming (peak).
 *
 * Run: `deno run -A bench/load.ts [--smoke] [--levels 100,1000]
 * [--transports ws,sse] [--client deno|bun] [--server-runtime deno|bun|both]
 * [--server ours|raw]` or `bun bench/load.ts` (same flags).
 *
 * `--client` is the load generator's runtime (default: the runtime running
 * this file); `--server-runtime` the server's: `deno` (`main.ts`, the
 * default), `bun` (`bun.ts`) or `both` (the whole ramp once per runtime,
 * Deno first; twice the run time).
 * @module
 */
import type { ChildProcess } from "node:child_process";
import process from "node:process";
import { parseFlags, parseList, parseNumbers, pickChoice } from "./lib/args.ts";
import { queryOnce } from "./lib/clients.ts";
import {
  parseServerRuntimes,
  type ServerHandle,
  type ServerKind,
  spawnLimited,
  startServer,
  stderrTail,
  type Workload,
} from "./lib/launch.ts";
import {
  RUNTIME,
  type Runtime,
  runtimeArgv,
  runtimeAvailable,
  RUNTIMES,
  sleep,
} from "./lib/runtime.ts";
import type { LoadResult } from "./load_gen.ts";

/** One level of the ramp. */
export interface LoadLevel {
  server: ServerKind;
  /** Runtime of the server process (reports before Bun servers lack it: Deno). */
  serverRuntime?: Runtime;
  transport: "ws" | "sse";
  connections: number;
  /** Runtime of the load generator process. */
  client: "deno" | "bun";
  /** Server RSS before any load connection, bytes. */
  baseRss: number;
  /** Server RSS with every socket open and idle (WS only), bytes. */
  idleRss?: number;
  /** Highest server RSS sampled while streaming, bytes. */
  peakRss: number;
  /** (idle − base) / connections, bytes. */
  idleBytesPerConn?: number;
  /** (peak − base) / connections, bytes. */
  streamingBytesPerConn: number;
  /** Server CPU over the streaming phase, % of one core. */
  serverCpuPercent: number;
  result?: LoadResult;
  failure?: string;
}

/** Options of {@link runLoadRamp}. */
export interface LoadOptions {
  levels: number[];
  transports: ("ws" | "sse")[];
  workload: Workload;
  turns: number;
  idleMs: number;
  rampMs: number;
  timeoutMs: number;
  client?: Runtime;
  server?: ServerKind;
  /** Runtimes of the server, each running the whole ramp (default `["deno"]`). */
  serverRuntimes?: Runtime[];
  log?: (line: string) => void;
}

/** Full run: up to 10,000 streams, 20 chunks of 16 B every 100 ms, 2 turns. */
export const FULL_LOAD: LoadOptions = {
  levels: [100, 1_000, 5_000, 10_000],
  transports: ["ws", "sse"],
  workload: { chunks: 20, chunkBytes: 16, intervalMs: 100 },
  turns: 2,
  idleMs: 2_000,
  rampMs: 2_000,
  timeoutMs: 90_000,
};

/** Smoke run: 10 streams, a few chunks. */
export const SMOKE_LOAD: LoadOptions = {
  levels: [10],
  transports: ["ws", "sse"],
  workload: { chunks: 5, chunkBytes: 16, intervalMs: 5 },
  turns: 2,
  idleMs: 200,
  rampMs: 50,
  timeoutMs: 10_000,
};

/** The load generator's command line for one level. */
function loadGenArgv(
  opts: LoadOptions,
  target: { url: string; transport: "ws" | "sse"; connections: number },
): string[] {
  const flags: Record<string, string | number> = {
    url: target.url,
    transport: target.transport,
    connections: target.connections,
    turns: opts.turns,
    chunks: opts.workload.chunks,
    "idle-ms": opts.idleMs,
    "ramp-ms": opts.rampMs,
    "timeout-ms": opts.timeoutMs,
  };
  const args = Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)]);
  return [...runtimeArgv(opts.client ?? RUNTIME, "bench/load_gen.ts"), ...args];
}

/**
 * Follows the load generator's stdout: samples the server's idle RSS on
 * `PHASE connected`, its peak RSS and CPU from `PHASE streaming` to the
 * `RESULT` line; resolves with the result (undefined if none came) and the
 * exit code.
 */
async function followLoadGen(
  child: ChildProcess,
  ctx: { server: ServerHandle; level: LoadLevel; idleMs: number; killAfterMs: number },
): Promise<{ result?: LoadResult; code: number | null }> {
  const { level, server } = ctx;
  let out = "";
  let result: LoadResult | undefined;
  let sampler: ReturnType<typeof setInterval> | undefined;
  let cpu0 = 0, t0 = 0;
  const exited = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  const killer = setTimeout(() => child.kill("SIGKILL"), ctx.killAfterMs);
  const onLine = (line: string) => {
    if (line === "PHASE connected") {
      setTimeout(() => level.idleRss = server.rss(), Math.min(500, ctx.idleMs / 2));
    } else if (line === "PHASE streaming") {
      cpu0 = server.cpuMs();
      t0 = performance.now();
      sampler = setInterval(() => level.peakRss = Math.max(level.peakRss, server.rss()), 100);
    } else if (line.startsWith("RESULT ")) {
      const cpu1 = server.cpuMs(), t1 = performance.now();
      clearInterval(sampler);
      level.serverCpuPercent = t1 > t0 ? Math.round(((cpu1 - cpu0) / (t1 - t0)) * 1000) / 10 : 0;
      result = JSON.parse(line.slice(7));
    }
  };
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    out += d;
    let nl;
    while ((nl = out.indexOf("\n")) >= 0) {
      onLine(out.slice(0, nl));
      out = out.slice(nl + 1);
    }
  });
  const code = await exited;
  clearTimeout(killer);
  clearInterval(sampler);
  return { result, code };
}

/** One level of the ramp: transport, connections, server runtime (default Deno). */
export interface LevelSpec {
  transport: "ws" | "sse";
  connections: number;
  serverRuntime?: Runtime;
}

/**
 * The server's connection cap at a level (`MAX_OPEN_CONNECTIONS`; Deno's
 * front door lowers it to the open-files limit): twice the level's clients,
 * so the ramp measures the server, not its cap. An SSE client may hold a
 * second connection while its first is released, and at the default cap
 * (10000) the 10000-client level met it: new connections shed, or (since
 * the cap closes the longest-idle one instead) a kept-alive one closed
 * under a client reusing it.
 */
function levelConnectionCap(connections: number): number {
  return 2 * connections;
}

/** Runs one level: fresh server, load generator process, `/proc` sampling. */
export async function runLevel(opts: LoadOptions, at: LevelSpec): Promise<LoadLevel> {
  const { transport, connections, serverRuntime = "deno" } = at;
  const kind = opts.server ?? "ours";
  const server = await startServer(kind, opts.workload, {
    fdLimit: 20_000,
    runtime: serverRuntime,
    env: { MAX_OPEN_CONNECTIONS: String(levelConnectionCap(connections)) },
  });
  const level: LoadLevel = {
    server: kind,
    serverRuntime,
    transport,
    connections,
    client: opts.client ?? RUNTIME,
    baseRss: 0,
    peakRss: 0,
    streamingBytesPerConn: 0,
    serverCpuPercent: 0,
  };
  try {
    // Warm both paths once so lazy init is not billed to connections.
    await queryOnce("ws-new", server.url);
    await queryOnce("sse-fetch", server.url);
    await sleep(200);
    level.baseRss = server.rss();
    const argv = loadGenArgv(opts, { url: server.url, transport, connections });
    const child = spawnLimited(argv, { fdLimit: 20_000 });
    const stderr = stderrTail(child, 2000);
    child.stderr!.on("data", (d: string) => {
      for (const line of d.split("\n")) if (line.trim()) opts.log?.(`    ${line.trim()}`);
    });
    const killAfterMs = opts.timeoutMs + opts.idleMs + 60_000;
    const { result, code } = await followLoadGen(child, {
      server,
      level,
      idleMs: opts.idleMs,
      killAfterMs,
    });
    if (!result) {
      level.failure = `Load generator exited with code ${code}: ${stderr().slice(-400)}`;
      return level;
    }
    level.result = result;
    level.peakRss = Math.max(level.peakRss, level.idleRss ?? 0);
    level.streamingBytesPerConn = Math.round((level.peakRss - level.baseRss) / connections);
    if (level.idleRss !== undefined) {
      level.idleBytesPerConn = Math.round((level.idleRss - level.baseRss) / connections);
    }
    return level;
  } catch (err) {
    level.failure = (err as Error).message;
    return level;
  } finally {
    await server.close();
  }
}

/**
 * Runs every transport at every level, one level at a time, once per server
 * runtime; a runtime that is not installed is skipped with a logged note.
 */
export async function runLoadRamp(opts: LoadOptions): Promise<LoadLevel[]> {
  const out: LoadLevel[] = [];
  const kind = opts.server ?? "ours";
  const runtimes = (opts.serverRuntimes ?? ["deno"]).filter((rt) => {
    if (runtimeAvailable(rt)) return true;
    opts.log?.(`load: skipped ${kind}-${rt}: \`${rt}\` not found`);
    return false;
  });
  for (const rt of runtimes) {
    for (const transport of opts.transports) {
      for (const n of opts.levels) {
        out.push(await runLogged(opts, { transport, connections: n, serverRuntime: rt }));
      }
    }
  }
  return out;
}

async function runLogged(opts: LoadOptions, at: LevelSpec): Promise<LoadLevel> {
  opts.log?.(
    `load: ${
      opts.server ?? "ours"
    }-${at.serverRuntime}, ${at.transport} × ${at.connections} connections`,
  );
  const level = await runLevel(opts, at);
  const r = level.result;
  opts.log?.(
    r
      ? `  ${r.messagesPerSec} msg/s, p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${
        r.latencyMs.p99.toFixed(1)
      } ms, ok ${r.answersOk}/${r.answersExpected}, server ${level.serverCpuPercent}% CPU, loadgen ${r.loadGenCpu.percentOfOneCore}% CPU, ${
        (level.streamingBytesPerConn / 1024).toFixed(1)
      } KiB/conn streaming`
      : `  failed: ${level.failure}`,
  );
  return level;
}

if (import.meta.main) {
  const args = parseFlags({
    smoke: "boolean",
    levels: "string",
    transports: "string",
    client: "string",
    "server-runtime": "string",
    server: "string",
  });
  const base = args.smoke ? SMOKE_LOAD : FULL_LOAD;
  const result = await runLoadRamp({
    ...base,
    levels: parseNumbers(args.levels) ?? base.levels,
    transports: (parseList(args.transports) as ("ws" | "sse")[] | undefined) ?? base.transports,
    client: pickChoice(args.client, RUNTIMES),
    server: args.server === "raw" ? "raw" : "ours",
    serverRuntimes: parseServerRuntimes(args["server-runtime"]),
    log: (l) => console.error(l),
  });
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
