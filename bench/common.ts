/**
 * Shared bench plumbing: runtime detection, server processes, the four
 * latency clients (WS reused, WS new per query, SSE via `fetch`, SSE via
 * `EventSource`) and percentile helpers.
 *
 * Portable between Deno and Bun: only `node:` modules and web globals.
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createParser } from "eventsource-parser";
import { SSE_PATH, WS_PATH } from "../protocol/codes.ts";

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
export const ROOT: string = dirname(dirname(fileURLToPath(import.meta.url)));

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

/** Synthetic agent settings, passed to both servers as environment. */
export interface Workload {
  /** Content frames per answer. */
  chunks: number;
  /** Characters of each content frame's `content`. */
  chunkBytes: number;
  /** Milliseconds between content frames (0 = burst). */
  intervalMs: number;
}

/** Which server implementation to start. */
export type ServerKind = "ours" | "raw";

/**
 * A server under test: implementation and runtime, named `<kind>-<runtime>`:
 * `ours-deno` (`deno run -A main.ts`), `ours-bun` (`bun bun.ts`), `raw-deno`
 * and `raw-bun` (`bench/raw_server.ts` under either). The server's runtime is
 * independent of the runtime running the bench (the client side).
 */
export interface ServerSpec {
  kind: ServerKind;
  runtime: Runtime;
}

/** Name of a {@link ServerSpec}: `ours-deno`, `ours-bun`, `raw-deno`, `raw-bun`. */
export type ServerName = `${ServerKind}-${Runtime}`;

/** Every server, in report order. */
export const ALL_SERVERS: readonly ServerName[] = ["ours-deno", "raw-deno", "ours-bun", "raw-bun"];

/** The name of a server spec. */
export function serverName(s: ServerSpec): ServerName {
  return `${s.kind}-${s.runtime}`;
}

/** Parses `ours-deno` etc.; a bare `ours` / `raw` means the Deno one. */
export function parseServer(name: string): ServerSpec {
  const m = /^(ours|raw)(?:-(deno|bun))?$/.exec(name.trim());
  if (!m) {
    throw new Error(
      `Cannot parse server: "${name}" is not one of ${ALL_SERVERS.map((s) => `"${s}"`).join(", ")}`,
    );
  }
  return { kind: m[1] as ServerKind, runtime: (m[2] ?? "deno") as Runtime };
}

/** Parses a comma-separated server list (`ours-deno,raw-bun`). */
export function parseServers(list: string): ServerSpec[] {
  return list.split(",").filter((s) => s.trim()).map(parseServer);
}

/**
 * Keeps the servers whose runtime is installed (and, for `ours`, whose entry
 * file exists); returns the kept ones and one note per dropped server.
 */
export function availableServers(
  wanted: readonly ServerSpec[],
): { servers: ServerSpec[]; skipped: string[] } {
  const servers: ServerSpec[] = [];
  const skipped: string[] = [];
  for (const s of wanted) {
    const entry = serverEntry(s);
    if (!runtimeAvailable(s.runtime)) {
      skipped.push(`${serverName(s)}: \`${runtimeBin(s.runtime)}\` not found`);
    } else if (!existsSync(`${ROOT}/${entry}`)) {
      skipped.push(`${serverName(s)}: ${entry} not found`);
    } else {
      servers.push(s);
    }
  }
  return { servers, skipped };
}

/** Script a server spec runs, relative to {@link ROOT}. */
export function serverEntry(s: ServerSpec): string {
  if (s.kind === "raw") return "bench/raw_server.ts";
  return s.runtime === "bun" ? "bun.ts" : "main.ts";
}

/** A running server process. */
export interface ServerHandle {
  kind: ServerKind;
  /** Runtime the server process runs on. */
  runtime: Runtime;
  /** `<kind>-<runtime>`. */
  name: ServerName;
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  pid: number;
  /** Resident set size of the server process, in bytes (Linux `/proc`). */
  rss(): number;
  /** CPU time (user+system) of the server process so far, in ms. */
  cpuMs(): number;
  /** Last lines of the server's stderr, for error messages. */
  stderrTail(): string;
  /** Stops the server and waits for the process to exit. */
  close(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartOptions {
  /** Open-files limit set with `ulimit -n` before exec (default 20000). */
  fdLimit?: number;
  /**
   * Runtime of the server process (default `deno`): `ours` runs
   * `deno run -A main.ts` or `bun bun.ts`, `raw` runs `bench/raw_server.ts`.
   */
  runtime?: Runtime;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Milliseconds to wait for the "Listening on" line (default 60000). */
  timeoutMs?: number;
  /** Extra flags for `deno run` (e.g. `--inspect=127.0.0.1:9229`). */
  denoFlags?: string[];
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  };
  globalThis.addEventListener?.("unload", killAll);
  // deno-lint-ignore no-process-global
  const proc = (globalThis as unknown as { process?: NodeJS_Process }).process;
  proc?.on?.("exit", killAll);
}
interface NodeJS_Process {
  on?(event: string, fn: () => void): void;
}

function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * Spawns a command through `sh -c "ulimit -n N && exec ..."` so the limit
 * applies and the pid is the command's own.
 */
export function spawnLimited(
  argv: string[],
  opts: { fdLimit?: number; env?: Record<string, string>; cwd?: string } = {},
): ChildProcess {
  const limit = opts.fdLimit ?? 20_000;
  const script = `ulimit -n ${limit} 2>/dev/null || ulimit -n $(ulimit -Hn); exec ${
    argv.map(shellQuote).join(" ")
  }`;
  const child = spawn("sh", ["-c", script], {
    cwd: opts.cwd ?? ROOT,
    // Bun's fetch allows 256 concurrent requests unless told otherwise.
    env: { ...readEnv(), BUN_CONFIG_MAX_HTTP_REQUESTS: "65535", ...opts.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  live.add(child);
  child.on("exit", () => live.delete(child));
  installExitHook();
  return child;
}

function readEnv(): Record<string, string> {
  // deno-lint-ignore no-process-global
  const env = (globalThis as unknown as { process: { env: object } }).process
    .env as Record<string, string>;
  return { ...env, NO_COLOR: "1" };
}

/** Reads a field (`VmRSS`) of `/proc/<pid>/status`, in bytes; 0 if gone. */
export function procRss(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /VmRSS:\s+(\d+) kB/.exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** User+system CPU time of a process from `/proc/<pid>/stat`, in ms. */
export function procCpuMs(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // fields[11] = utime, fields[12] = stime (clock ticks, 100 Hz on Linux)
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/**
 * Environment that configures the synthetic agent of either server. Our
 * abuse guards are switched off (no per-connection message rate limit, no
 * per-IP connection cap): every bench client comes from 127.0.0.1 and reuses
 * sockets for hundreds of answers, and the bench measures the transports.
 */
export function workloadEnv(w: Workload): Record<string, string> {
  return {
    RATE_LIMIT_PER_MINUTE: "0",
    MAX_CONNECTIONS_PER_IP: "0",
    PORT: "0",
    HOST: "127.0.0.1",
    KV_PATH: ":memory:",
    AGENT: "synthetic",
    SYNTHETIC_CHUNKS: String(w.chunks),
    SYNTHETIC_CHUNK_BYTES: String(w.chunkBytes),
    SYNTHETIC_INTERVAL_MS: String(w.intervalMs),
    LOG_LEVEL: "error",
  };
}

/**
 * Starts our server (`main.ts` on Deno, `bun.ts` on Bun) or the raw baseline
 * as a child process, on `opts.runtime` (default Deno).
 */
export async function startServer(
  kind: ServerKind,
  workload: Workload,
  opts: StartOptions = {},
): Promise<ServerHandle> {
  const runtime = opts.runtime ?? "deno";
  const name = serverName({ kind, runtime });
  const script = serverEntry({ kind, runtime });
  const argv = runtime === "bun"
    ? [BUN_BIN, script]
    : [DENO_BIN, "run", "-A", ...(opts.denoFlags ?? []), script];
  const child = spawnLimited(argv, {
    fdLimit: opts.fdLimit,
    env: { ...workloadEnv(workload), ...opts.env },
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.on("exit", resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      reject(
        new Error(
          `Cannot start ${name} server: no "Listening on" line within ${
            opts.timeoutMs ?? 60_000
          } ms: ${stderr.slice(-800)}`,
        ),
      );
    }, opts.timeoutMs ?? 60_000);
    child.stdout!.setEncoding("utf8");
    const onData = (d: string) => {
      out += d;
      const m = /Listening on (https?:\/\/[^\s/]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        resolve(m[1]);
      }
    };
    child.stdout!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `Cannot start ${name} server: exited with code ${code}: ${stderr.slice(-800)}`,
        ),
      );
    });
  });
  const pid = child.pid!;
  return {
    kind,
    runtime,
    name,
    url,
    pid,
    rss: () => procRss(pid),
    cpuMs: () => procCpuMs(pid),
    stderrTail: () => stderr,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** Measurements of one answer. All times in ms. */
export interface AnswerSample {
  /** Query sent (or connection started) → first content frame received. */
  ttfc: number;
  /** Query sent (or connection started) → last content frame received. */
  ttlc: number;
  /** Per content frame: receive time − server `ts` (one-way latency). */
  oneWay: number[];
  /** Content frames received. */
  chunks: number;
}

/** The four transports compared. */
export type Transport =
  | "ws-reused"
  | "ws-new"
  | "sse-fetch"
  | "sse-eventsource";

/** All transports, in report order. */
export const TRANSPORTS: readonly Transport[] = [
  "ws-reused",
  "ws-new",
  "sse-fetch",
  "sse-eventsource",
];

/** True when the runtime offers the transport (Bun has no `EventSource`). */
export function transportAvailable(t: Transport): boolean {
  return t !== "sse-eventsource" ||
    typeof globalThis.EventSource === "function";
}

let idCounter = 0;
/** A fresh session id matching the protocol's `ID_PATTERN`. */
export function sessionId(prefix = "bench"): string {
  return `${prefix}-${(++idCounter).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Converts `http://host:port` to `ws://host:port`. */
export function wsUrl(base: string): string {
  return base.replace(/^http/, "ws") + WS_PATH;
}

/** SSE URL for a query. */
export function sseUrl(base: string, session: string, query = "bench"): string {
  return `${base}${SSE_PATH}?query=${encodeURIComponent(query)}&session_id=${
    encodeURIComponent(session)
  }`;
}

/** Tracks one answer's frames: sequence check and timings. */
class AnswerTracker {
  #t0: number;
  #expect = 0;
  #first = 0;
  #last = 0;
  #oneWay: number[] = [];
  #chunks = 0;
  constructor(t0: number) {
    this.#t0 = t0;
  }
  /** Feeds one frame's text; returns true on `done`. Throws on a bad seq. */
  feed(text: string): boolean {
    const now = epochNow();
    const f = JSON.parse(text) as {
      type: string;
      seq?: number;
      ts?: number;
      code?: string;
      message?: string;
    };
    if (f.type === "error") {
      throw new Error(`Server error: ${f.code}: ${f.message}`);
    }
    if (f.seq !== this.#expect) {
      throw new Error(
        `Cannot accept frame: seq ${f.seq} where ${this.#expect} was expected`,
      );
    }
    this.#expect++;
    if (f.type === "content") {
      if (this.#chunks === 0) this.#first = now;
      this.#last = now;
      this.#chunks++;
      if (typeof f.ts === "number") this.#oneWay.push(now - f.ts);
      return false;
    }
    return f.type === "done";
  }
  result(): AnswerSample {
    return {
      ttfc: this.#first - this.#t0,
      ttlc: this.#last - this.#t0,
      oneWay: this.#oneWay,
      chunks: this.#chunks,
    };
  }
}

/** A WebSocket kept open across queries (many turns over one socket). */
export class ReusedWs {
  #ws: WebSocket;
  #session = sessionId("wsr");
  #current?: {
    tracker: AnswerTracker;
    resolve: (s: AnswerSample) => void;
    reject: (e: Error) => void;
  };
  #open: Promise<void>;

  /** Opens the socket; await {@link ready} before the first query. */
  constructor(base: string) {
    this.#ws = new WebSocket(wsUrl(base));
    this.#open = new Promise((resolve, reject) => {
      this.#ws.onopen = () => resolve();
      this.#ws.onerror = () => reject(new Error("Cannot open WebSocket"));
    });
    this.#ws.onmessage = (e) => {
      const cur = this.#current;
      if (!cur) return;
      try {
        if (cur.tracker.feed(e.data as string)) {
          this.#current = undefined;
          cur.resolve(cur.tracker.result());
        }
      } catch (err) {
        this.#current = undefined;
        cur.reject(err as Error);
      }
    };
    this.#ws.onclose = () => {
      this.#current?.reject(new Error("WebSocket closed mid-answer"));
      this.#current = undefined;
    };
  }
  /** Resolves once the socket is open. */
  ready(): Promise<void> {
    return this.#open;
  }
  /** Sends one query and resolves with the answer's measurements. */
  query(): Promise<AnswerSample> {
    return new Promise((resolve, reject) => {
      this.#current = {
        tracker: new AnswerTracker(epochNow()),
        resolve,
        reject,
      };
      this.#ws.send(
        JSON.stringify({ query: "bench", session_id: this.#session }),
      );
    });
  }
  /** Closes the socket. */
  close(): void {
    this.#ws.close();
  }
}

/** One query on a fresh WebSocket; timings include the handshake. */
export function wsNewQuery(base: string): Promise<AnswerSample> {
  const tracker = new AnswerTracker(epochNow());
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base));
    let done = false;
    ws.onopen = () => ws.send(JSON.stringify({ query: "bench", session_id: sessionId("wsn") }));
    ws.onmessage = (e) => {
      try {
        if (tracker.feed(e.data as string)) {
          done = true;
          ws.close();
          resolve(tracker.result());
        }
      } catch (err) {
        done = true;
        ws.close();
        reject(err);
      }
    };
    ws.onerror = () => {
      if (!done) reject(new Error("WebSocket error"));
    };
    ws.onclose = () => {
      if (!done) reject(new Error("WebSocket closed mid-answer"));
    };
  });
}

/** One query over SSE read with `fetch` and `eventsource-parser`. */
export async function sseFetchQuery(base: string): Promise<AnswerSample> {
  const tracker = new AnswerTracker(epochNow());
  const res = await fetch(sseUrl(base, sessionId("ssf")));
  if (!res.ok || !res.body) {
    throw new Error(`Cannot read SSE stream: status ${res.status}`);
  }
  let done = false;
  let failure: Error | undefined;
  const parser = createParser({
    onEvent(ev) {
      if (done || failure) return;
      try {
        done = tracker.feed(ev.data);
      } catch (err) {
        failure = err as Error;
      }
    },
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  while (!done && !failure) {
    const { value, done: end } = await reader.read();
    if (end) break;
    parser.feed(value);
  }
  await reader.cancel().catch(() => {});
  if (failure) throw failure;
  if (!done) throw new Error("SSE stream ended before done");
  return tracker.result();
}

/** One query over SSE with the `EventSource` global. */
export function sseEventSourceQuery(base: string): Promise<AnswerSample> {
  const tracker = new AnswerTracker(epochNow());
  return new Promise((resolve, reject) => {
    const es = new EventSource(sseUrl(base, sessionId("sse")));
    es.onmessage = (e) => {
      try {
        if (tracker.feed(e.data)) {
          es.close();
          resolve(tracker.result());
        }
      } catch (err) {
        es.close();
        reject(err);
      }
    };
    es.onerror = () => {
      es.close();
      reject(new Error("EventSource error before done"));
    };
  });
}

/** Runs one query over a transport; `reused` must be open for `ws-reused`. */
export function queryOnce(
  t: Transport,
  base: string,
  reused?: ReusedWs,
): Promise<AnswerSample> {
  switch (t) {
    case "ws-reused":
      return reused!.query();
    case "ws-new":
      return wsNewQuery(base);
    case "sse-fetch":
      return sseFetchQuery(base);
    case "sse-eventsource":
      return sseEventSourceQuery(base);
  }
}

/** p-th percentile (0-100) of an already sorted array, nearest-rank. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Summary statistics of a sample set, in the sample's unit. */
export interface Stats {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Computes {@link Stats} (sorts a copy). */
export function stats(values: ArrayLike<number>): Stats {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    min: sorted[0] ?? NaN,
    p50: percentileSorted(sorted, 50),
    p95: percentileSorted(sorted, 95),
    p99: percentileSorted(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
