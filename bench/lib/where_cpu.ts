/**
 * Where the CPU per chunk goes, ours against raw on each runtime: the CPU
 * workload of the report's CPU measure (concurrent streams of bursts), run
 * plain on ours and raw side by side (rounds in a shuffled order) for the
 * CPU per delivered chunk of each thread group (`/proc/<pid>/task`), then
 * on each under the runtime's sampling profiler (`--cpu-prof`) for the
 * JavaScript thread's samples by part of the code (`cpu_profile.ts`), so
 * the difference can be named part by part.
 *
 * Portable between Deno and Bun: only `node:` modules and web globals.
 * @module
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type LoadResult, runLoad } from "../load_gen.ts";
import { partsOf, readProfile } from "./cpu_profile.ts";
import {
  availableServers,
  type ServerKind,
  type ServerName,
  startServer,
  startServers,
} from "./launch.ts";
import { epochNow, type Runtime, RUNTIMES, sleep } from "./runtime.ts";
import { type ThreadGroup, threadTimes, type Times, timesDifference } from "./threads.ts";
import { type CpuWorkload, FULL_USER, sampledLoad } from "./user_measures.ts";

/** Settings of {@link runWhereCpu}. */
export interface WhereCpuOptions {
  /** Rounds of the plain runs (ours and raw in a shuffled order each round). */
  rounds: number;
  /** Unmeasured loads per transport before the plain runs' rounds (the profiled run has one). */
  warmups: number;
  /** Streams at once, answers each, chunks per answer (16-byte chunks, no pause). */
  connections: number;
  turns: number;
  chunks: number;
  /** Idle time around each profiled load, which keeps the load's samples apart. */
  gapMs: number;
  /** The profiler's sampling interval, µs. */
  intervalUs: number;
  /** Server runtimes (default: both, those installed). */
  runtimes?: readonly Runtime[];
  log?: (line: string) => void;
}

/**
 * Full-run settings: the report's CPU workload (100 streams, 200-chunk
 * answers), 10 answers each, 2 warm-ups and 3 rounds.
 */
export const FULL_WHERE: WhereCpuOptions = {
  rounds: 3,
  warmups: 2,
  connections: FULL_USER.cpu.connections,
  turns: 10,
  chunks: FULL_USER.workload.chunks,
  gapMs: 600,
  intervalUs: 100,
};

/** Tiny settings for smoke runs. */
export const SMOKE_WHERE: WhereCpuOptions = {
  rounds: 1,
  warmups: 1,
  connections: 10,
  turns: 3,
  chunks: 100,
  gapMs: 300,
  intervalUs: 100,
};

/** One server on one transport. */
export interface WhereCpuSide {
  server: ServerName;
  /** CPU per delivered chunk by thread group, µs (the plain runs, pooled over the rounds). */
  threads: Partial<Record<ThreadGroup, Times>>;
  /** Chunks the plain runs delivered. */
  chunks: number;
  /** Samples of the JavaScript thread by part (the profiled run's load only; idle excluded). */
  samples: Record<string, number>;
  /** Chunks the profiled run delivered. */
  profiledChunks: number;
  /** Median time between the load's samples, µs: what one sample stands for. */
  sampleIntervalUs: number;
}

/** Ours and raw on one runtime and transport. */
export interface WhereCpuPair {
  runtime: Runtime;
  transport: "ws" | "sse";
  ours: WhereCpuSide;
  raw: WhereCpuSide;
}

/** What {@link runWhereCpu} returns. */
export interface WhereCpuReport {
  options: Omit<WhereCpuOptions, "log" | "runtimes">;
  pairs: WhereCpuPair[];
  skipped: string[];
}

const TRANSPORTS = ["ws", "sse"] as const;

/** Throws unless every answer of a load arrived whole. */
function checked(name: string, r: LoadResult): LoadResult {
  if (r.answersOk !== r.answersExpected) {
    throw new Error(
      `Cannot measure ${name}: ${r.answersOk}/${r.answersExpected} answers ok (${
        JSON.stringify(r.errors)
      })`,
    );
  }
  return r;
}

/**
 * The whole load `times` times on each transport, not measured: the first
 * sessions, and the JIT (Bun's JIT thread compiles ours for the first
 * couple of million chunks: see the report's CPU warm-up).
 */
async function warmUp(url: string, opts: WhereCpuOptions & { times: number }): Promise<void> {
  for (let i = 0; i < opts.times; i++) {
    for (const transport of TRANSPORTS) {
      await runLoad({
        url,
        transport,
        ...size(opts),
        idleMs: 0,
        rampMs: 0,
        timeoutMs: 120_000,
      });
    }
  }
}

/** µs per chunk of each group. */
function perChunk(
  ms: Map<ThreadGroup, Times>,
  chunks: number,
): Partial<Record<ThreadGroup, Times>> {
  return Object.fromEntries(
    [...ms].map(([g, t]) => [g, { user: (t.user * 1000) / chunks, sys: (t.sys * 1000) / chunks }]),
  );
}

type Plain = Pick<WhereCpuSide, "threads" | "chunks">;
type Profiled = Pick<
  WhereCpuSide,
  "samples" | "profiledChunks" | "sampleIntervalUs"
>;

/**
 * The plain runs: ours and raw side by side, each warmed up, then
 * `rounds` rounds visiting both in a shuffled order on each transport;
 * CPU per chunk by thread group, pooled over the rounds.
 */
async function plainRuns(
  runtime: Runtime,
  opts: WhereCpuOptions,
): Promise<Record<ServerKind, Record<"ws" | "sse", Plain>>> {
  const kinds: ServerKind[] = ["ours", "raw"];
  const servers = await startServers(kinds.map((kind) => ({ kind, runtime })), workload(opts));
  const ms = servers.map(() => TRANSPORTS.map(() => new Map<ThreadGroup, Times>()));
  const chunks = servers.map(() => TRANSPORTS.map(() => 0));
  try {
    for (const server of servers) await warmUp(server.url, { ...opts, times: opts.warmups });
    for (let round = 0; round < opts.rounds; round++) {
      for (const [t, transport] of TRANSPORTS.entries()) {
        const order = Math.random() < 0.5 ? [0, 1] : [1, 0];
        for (const i of order) {
          const server = servers[i];
          const load: CpuWorkload = { transport, ...size(opts) };
          const { before, after, result } = await sampledLoad(
            server.url,
            load,
            () => threadTimes(server.pid),
          );
          checked(server.name, result);
          for (const [g, d] of timesDifference(after, before)) {
            const sum = ms[i][t].get(g) ?? { user: 0, sys: 0 };
            ms[i][t].set(g, { user: sum.user + d.user, sys: sum.sys + d.sys });
          }
          chunks[i][t] += result.messages;
        }
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
  const plain = (i: number, t: number): Plain => ({
    threads: perChunk(ms[i][t], chunks[i][t]),
    chunks: chunks[i][t],
  });
  return {
    ours: { ws: plain(0, 0), sse: plain(0, 1) },
    raw: { ws: plain(1, 0), sse: plain(1, 1) },
  };
}

/** The load's size: streams, answers each, chunks per answer. */
function size(opts: WhereCpuOptions) {
  return { connections: opts.connections, turns: opts.turns, chunks: opts.chunks };
}

/** The synthetic answer of {@link WhereCpuOptions}. */
function workload(opts: WhereCpuOptions) {
  return { chunks: opts.chunks, chunkBytes: 16, intervalMs: 0 };
}

/**
 * The profiled run: each transport's load between idle gaps; the profile's
 * samples of each load's window (mapped from the bench's clock through the
 * process's start, widened by half a gap) split by part.
 */
async function profiledRun(
  spec: { kind: ServerKind; runtime: Runtime },
  opts: WhereCpuOptions,
): Promise<Record<"ws" | "sse", Profiled>> {
  const dir = mkdtempSync(join(tmpdir(), "where-cpu-"));
  try {
    const spawnedUs = epochNow() * 1000;
    const server = await startServer(spec.kind, workload(opts), {
      runtime: spec.runtime,
      cpuProfile: { dir, intervalUs: opts.intervalUs },
    });
    const windows: { transport: "ws" | "sse"; from: number; to: number; chunks: number }[] = [];
    try {
      await warmUp(server.url, { ...opts, times: 1 });
      for (const transport of TRANSPORTS) {
        await sleep(opts.gapMs);
        let from = epochNow();
        const result = checked(
          server.name,
          await runLoad({
            url: server.url,
            transport,
            ...size(opts),
            idleMs: opts.gapMs,
            rampMs: 0,
            timeoutMs: 120_000,
            // WebSockets: the window opens once they are connected (SSE connects as it streams).
            onPhase: (phase) => {
              if (phase !== "streaming" || transport !== "ws") return;
              from = epochNow();
            },
          }),
        );
        windows.push({ transport, from, to: epochNow(), chunks: result.messages });
      }
      await sleep(opts.gapMs);
    } finally {
      await server.close();
    }
    const profile = readProfile(dir);
    const offsetUs = profile.startTime - spawnedUs;
    const margin = (opts.gapMs * 1000) / 2;
    const out = {} as Record<"ws" | "sse", Profiled>;
    for (const w of windows) {
      const { counts, intervalUs } = partsOf(profile, {
        from: w.from * 1000 + offsetUs - margin,
        to: w.to * 1000 + offsetUs + margin,
      });
      out[w.transport] = {
        profiledChunks: w.chunks,
        samples: Object.fromEntries(counts),
        sampleIntervalUs: intervalUs,
      };
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why the section cannot run here, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.platform !== "linux" || !existsSync("/proc/self/task")) {
    return "needs Linux `/proc` (per-thread CPU)";
  }
  return undefined;
}

/**
 * Runs the plain runs and the profiled runs of ours and raw on each runtime;
 * a runtime whose servers are missing, or whose profile cannot be read,
 * is skipped with a note.
 */
export async function runWhereCpu(opts: WhereCpuOptions): Promise<WhereCpuReport> {
  const log = opts.log ?? (() => {});
  const { log: _, runtimes = RUNTIMES, ...options } = opts;
  const report: WhereCpuReport = { options, pairs: [], skipped: [] };
  const why = unavailable();
  if (why) {
    report.skipped.push(`all: ${why}`);
    return report;
  }
  for (const runtime of runtimes) {
    const specs = [{ kind: "ours" as const, runtime }, { kind: "raw" as const, runtime }];
    const { skipped } = availableServers(specs);
    if (skipped.length) {
      report.skipped.push(...skipped);
      continue;
    }
    try {
      log(`where the CPU goes: ours-${runtime} and raw-${runtime}, plain runs`);
      const plain = await plainRuns(runtime, opts);
      const prof = {} as Record<ServerKind, Record<"ws" | "sse", Profiled>>;
      for (const { kind } of specs) {
        log(`where the CPU goes: ${kind}-${runtime}, profiled run`);
        prof[kind] = await profiledRun({ kind, runtime }, opts);
      }
      for (const transport of TRANSPORTS) {
        const [ours, raw] = specs.map(({ kind }) => ({
          server: `${kind}-${runtime}` as ServerName,
          ...plain[kind][transport],
          ...prof[kind][transport],
        }));
        report.pairs.push({ runtime, transport, ours, raw });
      }
    } catch (err) {
      report.skipped.push(`${runtime}: ${(err as Error).message}`);
    }
  }
  for (const note of report.skipped) log(`where the CPU goes: skipped ${note}`);
  return report;
}
