/**
 * The one server launcher of the bench: our server (`main.ts` on Deno,
 * `bun.ts` on Bun) or the raw baseline (`bench/raw_server.ts` on either) as a
 * child process with a raised open-files limit, found through its
 * `Listening on` line, measured through `/proc`.
 *
 * Portable between Deno and Bun: only `node:` modules and web globals.
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import {
  type CpuProfileFlags,
  ROOT,
  type Runtime,
  runtimeArgv,
  runtimeAvailable,
  runtimeBin,
  RUNTIMES,
} from "./runtime.ts";

/**
 * The line a server prints when ready, `Listening on http://HOST:PORT/
 * (agent: NAME)`; group 1 is the base URL. The bench's only copy.
 */
export const LISTENING_LINE = /Listening on (https?:\/\/[^\s/]+)/;

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

/** The default server list: {@link ALL_SERVERS}. */
export function defaultServers(): ServerSpec[] {
  return ALL_SERVERS.map(parseServer);
}

/** Parses `--server-runtime deno|bun|both` (undefined → `["deno"]`). */
export function parseServerRuntimes(value: string | undefined): Runtime[] {
  if (value === undefined || value === "deno") return ["deno"];
  if (value === "bun") return ["bun"];
  if (value === "both") return [...RUNTIMES];
  throw new Error(
    `Cannot parse server runtime: "${value}" is not one of "deno", "bun", "both"`,
  );
}

/** Script a server spec runs, relative to {@link ROOT}. */
export function serverEntry(s: ServerSpec): string {
  if (s.kind === "raw") return "bench/raw_server.ts";
  return s.runtime === "bun" ? "bun.ts" : "main.ts";
}

/** True when our server's entry point exists. */
export function oursAvailable(): boolean {
  return existsSync(`${ROOT}/main.ts`);
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
  /** Write a CPU profile into this folder on exit (either runtime). */
  cpuProfile?: CpuProfileFlags;
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
  process.on?.("exit", killAll);
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
    env: {
      ...process.env as Record<string, string>,
      NO_COLOR: "1",
      BUN_CONFIG_MAX_HTTP_REQUESTS: "65535",
      ...opts.env,
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  live.add(child);
  child.on("exit", () => live.delete(child));
  installExitHook();
  return child;
}

/** Keeps the last `max` characters a child wrote to stderr. */
export function stderrTail(child: ChildProcess, max: number): () => string {
  let tail = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    tail = (tail + d).slice(-max);
  });
  return () => tail;
}

/** Reads `VmRSS` of `/proc/<pid>/status`, in bytes; 0 if gone. */
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
 * Our abuse guards switched off (no per-connection message rate limit, no
 * per-IP connection cap, no per-client-key budgets): every bench client
 * comes from 127.0.0.1 and reuses sockets for hundreds of answers, and the
 * benches measure the transports and the fleet, not the guards.
 */
export const GUARDS_OFF: Readonly<Record<string, string>> = {
  RATE_LIMIT_PER_MINUTE: "0",
  MAX_CONNECTIONS_PER_IP: "0",
  KEY_MESSAGES_PER_MINUTE: "0",
  KEY_ANSWERS_PER_MINUTE: "0",
  MAX_ANSWERS_PER_CLIENT: "0",
};

/** Environment that configures the synthetic agent of either server, {@link GUARDS_OFF}. */
export function workloadEnv(w: Workload): Record<string, string> {
  return {
    ...GUARDS_OFF,
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

/** Resolves with the base URL of the child's `Listening on` line. */
function listeningUrl(
  child: ChildProcess,
  opts: { name: string; timeoutMs: number; stderr: () => string },
): Promise<string> {
  const { name } = opts;
  return new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      reject(
        new Error(
          `Cannot start ${name} server: no "Listening on" line within ${opts.timeoutMs} ms: ${
            opts.stderr().slice(-800)
          }`,
        ),
      );
    }, opts.timeoutMs);
    child.stdout!.setEncoding("utf8");
    const onData = (d: string) => {
      out += d;
      const m = LISTENING_LINE.exec(out);
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
          `Cannot start ${name} server: exited with code ${code}: ${opts.stderr().slice(-800)}`,
        ),
      );
    });
  });
}

/** Sends SIGTERM (SIGKILL after 3 s) and waits for the exit. */
async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(t);
  }
}

/** A started child server process, found through its `Listening on` line. */
export interface Launched {
  url: string;
  pid: number;
  rss(): number;
  cpuMs(): number;
  stderrTail(): string;
  close(): Promise<void>;
}

/** Spawns `argv` with the workload's environment and waits for its URL. */
async function launch(
  argv: string[],
  opts: StartOptions & { name: string; workload: Workload },
): Promise<Launched> {
  const child = spawnLimited(argv, {
    fdLimit: opts.fdLimit,
    env: { ...workloadEnv(opts.workload), ...opts.env },
  });
  const stderr = stderrTail(child, 4000);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const url = await listeningUrl(child, {
    name: opts.name,
    timeoutMs: opts.timeoutMs ?? 60_000,
    stderr,
  });
  const pid = child.pid!;
  return {
    url,
    pid,
    rss: () => procRss(pid),
    cpuMs: () => procCpuMs(pid),
    stderrTail: stderr,
    close: () => stop(child, exited),
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
  const argv = runtimeArgv(runtime, serverEntry({ kind, runtime }), opts);
  const launched = await launch(argv, { ...opts, name, workload });
  return { kind, runtime, name, ...launched };
}

/** Name of the seed's own stack in reports. */
export const SEED_NAME = "seed-python";

/** The Python running the seed's stack (Debian's, with its FastAPI packages). */
export const PYTHON_BIN = "/usr/bin/python3";

let seedCheck: string | undefined | null = null;

/**
 * Why the seed's stack (`bench/seed_server.py`: FastAPI + uvicorn +
 * websockets on {@link PYTHON_BIN}) cannot run here, or undefined when it
 * can. Cached.
 */
export function seedUnavailable(): string | undefined {
  if (seedCheck !== null) return seedCheck;
  const r = spawnSync(PYTHON_BIN, ["-c", "import fastapi, uvicorn, websockets"], {
    encoding: "utf8",
    timeout: 20_000,
  });
  seedCheck = r.status === 0
    ? undefined
    : `${SEED_NAME}: ${PYTHON_BIN} with fastapi, uvicorn and websockets not found (Debian: python3-fastapi python3-uvicorn python3-websockets)`;
  return seedCheck;
}

/**
 * Starts the seed's own stack, FastAPI + uvicorn (`bench/seed_server.py`),
 * configured by the same workload environment as ours and raw.
 */
export function startSeedServer(workload: Workload, opts: StartOptions = {}): Promise<Launched> {
  return launch([PYTHON_BIN, "bench/seed_server.py"], { ...opts, name: SEED_NAME, workload });
}

/**
 * Starts one process per server spec for a workload, one after another (our
 * servers may rebuild the client bundle on start: never two at once).
 */
export async function startServers(
  specs: readonly ServerSpec[],
  w: Workload,
): Promise<ServerHandle[]> {
  const started: ServerHandle[] = [];
  try {
    for (const s of specs) started.push(await startServer(s.kind, w, { runtime: s.runtime }));
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
  return started;
}
