/**
 * What users feel, per server, in repeated interleaved rounds: time to first
 * chunk (reused WS, new WS, SSE), server CPU per delivered chunk at a fixed
 * concurrency (read from `/proc/<pid>/stat` of the server process, so the
 * clients' cost is excluded), and idle WebSocket memory (RSS growth per
 * socket, on a fresh process of the server each round). Every server (ours,
 * raw, the seed's FastAPI stack) runs at once; each round visits them in a
 * shuffled order and each measure reports the spread (min / median / max) of
 * its per-round values.
 *
 * Portable between Deno and Bun: only `node:` modules and web globals.
 * @module
 */
import { queryOnce, ReusedWs, wsNewQuery, wsUrl } from "./clients.ts";
import {
  type Launched,
  SEED_NAME,
  seedUnavailable,
  serverName,
  type ServerSpec,
  startSeedServer,
  startServer,
  type Workload,
} from "./launch.ts";
import { usableServers } from "./latency.ts";
import { sleep } from "./runtime.ts";
import { percentileSorted } from "./stats.ts";
import { readFileSync } from "node:fs";
import { type LoadResult, runLoad } from "../load_gen.ts";

/** The transports time to first chunk is measured on. */
export const TTFC_TRANSPORTS = ["ws-reused", "ws-new", "sse-fetch"] as const;
/** One of {@link TTFC_TRANSPORTS}. */
export type TtfcTransport = typeof TTFC_TRANSPORTS[number];

/** Settings of {@link runUserMeasures}. */
export interface UserMeasureOptions {
  /** Rounds; each measure's spread is over its per-round values. */
  rounds: number;
  /** Answers per (server, transport) per round for time to first chunk (p50 kept). */
  ttfcSamples: number;
  /** Answers per (server, transport) before the first round, not kept. */
  warmup: number;
  /** CPU phase per round and transport: streams at once × answers each. */
  cpu: { connections: number; turns: number };
  /**
   * CPU phases per (server, transport) before the first round, not kept:
   * what is measured is a settled server. Bun's JIT thread took 0.1-0.4 µs
   * per chunk of ours over its first six runs of 400,000 chunks, then 0.05
   * or less; every server gets the same warm-up.
   */
  cpuWarmup: number;
  /**
   * Idle WebSockets opened per round for the memory measure: each is a
   * descriptor on the server (limit 20000: see `spawnLimited`) and one in
   * the bench, lowered to what the bench's own open-files limit leaves.
   */
  idleSockets: number;
  /** The synthetic agent's answer (every measure uses it). */
  workload: Workload;
  /** Servers (default all four of the latency comparison); the seed's stack is added when present. */
  servers?: readonly ServerSpec[];
  log?: (line: string) => void;
}

/**
 * Full-run settings: 100 concurrent streams, 200-chunk answers of 16 bytes,
 * 10000 idle sockets (with fewer, the server's one-off growth while
 * thousands of sockets open weighs on the per-socket figure: ours at 2500
 * read 3 KiB more per socket than at 10000, the raw baseline the same).
 */
export const FULL_USER: UserMeasureOptions = {
  rounds: 5,
  ttfcSamples: 40,
  warmup: 20,
  // The issue's own measure: 100 streams × 20 answers × 200 chunks, 400,000
  // chunks per phase (a /proc tick of 10 ms is 0.025 µs per chunk).
  cpu: { connections: 100, turns: 20 },
  cpuWarmup: 3,
  idleSockets: 10_000,
  workload: { chunks: 200, chunkBytes: 16, intervalMs: 0 },
};

/** Tiny settings for smoke runs. */
export const SMOKE_USER: UserMeasureOptions = {
  rounds: 2,
  ttfcSamples: 3,
  warmup: 1,
  cpu: { connections: 5, turns: 2 },
  cpuWarmup: 1,
  idleSockets: 20,
  workload: { chunks: 20, chunkBytes: 16, intervalMs: 0 },
};

/** Per-round values of one measure, and their min / median / max. */
export interface Spread {
  min: number;
  median: number;
  max: number;
  rounds: number[];
}

/** Everything measured on one server. */
export interface UserMeasureRow {
  /** `ours-deno`, `raw-deno`, `ours-bun`, `raw-bun` or `seed-python`. */
  server: string;
  /** Time to first chunk p50 of each round, ms. */
  ttfc: Record<TtfcTransport, Spread>;
  /** Server CPU per delivered content frame, µs. */
  cpuPerChunkUs: Record<"ws" | "sse", Spread>;
  /** Server RSS growth per idle open WebSocket, bytes (a fresh server process each round). */
  idleWsBytes: Spread;
  /** Failed answers or lost/reordered frames (any is a bug). */
  errors: number;
  firstError?: string;
}

/** What {@link runUserMeasures} returns. */
export interface UserMeasureReport {
  rounds: number;
  ttfcSamples: number;
  cpu: { connections: number; turns: number };
  /** CPU phases per (server, transport) run before the first round and not kept (absent in older reports). */
  cpuWarmup?: number;
  idleSockets: number;
  /**
   * True when each round's idle memory was read on a fresh server process
   * (reports from before it read the long-lived one).
   */
  idleFresh?: boolean;
  workload: Workload;
  rows: UserMeasureRow[];
  skipped: string[];
}

/** The spread of per-round values. */
export function spread(rounds: number[]): Spread {
  const sorted = [...rounds].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? NaN,
    median: percentileSorted(sorted, 50),
    max: sorted.at(-1) ?? NaN,
    rounds,
  };
}

/** A server under measurement and what its rounds collected. */
interface Peer {
  name: string;
  server: Launched;
  /** Starts another process of the same server (the memory measure's). */
  fresh: () => Promise<Launched>;
  reused?: ReusedWs;
  ttfc: Record<TtfcTransport, number[]>;
  cpu: Record<"ws" | "sse", number[]>;
  idle: number[];
  errors: number;
  firstError?: string;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function fail(p: Peer, err: unknown): void {
  p.errors++;
  p.firstError ??= (err as Error).message;
}

/** One answer's time to first chunk, or undefined when it failed (counted). */
async function ttfcOnce(p: Peer, t: TtfcTransport): Promise<number | undefined> {
  try {
    if (t === "ws-reused" && !p.reused) {
      p.reused = new ReusedWs(p.server.url);
      await p.reused.ready();
    }
    return (await queryOnce(t, p.server.url, p.reused)).ttfc;
  } catch (err) {
    fail(p, err);
    p.reused?.close();
    p.reused = undefined;
    return undefined;
  }
}

/** Time to first chunk: every (server, transport) sampled round-robin, shuffled. */
async function ttfcRound(peers: Peer[], opts: { samples: number; keep: boolean }) {
  const pairs = peers.flatMap((p) => TTFC_TRANSPORTS.map((t) => ({ p, t })));
  const got = new Map(pairs.map((x) => [x, [] as number[]]));
  for (let i = 0; i < opts.samples; i++) {
    for (const x of shuffle([...pairs])) {
      const v = await ttfcOnce(x.p, x.t);
      if (v !== undefined) got.get(x)!.push(v);
    }
  }
  if (!opts.keep) return;
  for (const [x, values] of got) {
    if (values.length) x.p.ttfc[x.t].push(percentileSorted(values.sort((a, b) => a - b), 50));
  }
}

/** The CPU workload: `connections` streams of `chunks`-chunk bursts at once, `turns` answers each. */
export interface CpuWorkload {
  transport: "ws" | "sse";
  connections: number;
  turns: number;
  chunks: number;
}

/**
 * Runs the CPU workload against `url` and reads `sample` (the server's
 * CPU, by process or by thread) once its WebSockets are open and again
 * when the answers are done.
 */
export async function sampledLoad<T>(
  url: string,
  workload: CpuWorkload,
  sample: () => T,
): Promise<{ before: T; after: T; result: LoadResult }> {
  let before = sample();
  const result = await runLoad({
    url,
    ...workload,
    idleMs: 50,
    rampMs: 0,
    timeoutMs: 120_000,
    onPhase: (phase) => {
      if (phase === "connected") before = sample();
    },
  });
  return { before, after: sample(), result };
}

/**
 * Server CPU per delivered content frame: CPU read from the server's
 * `/proc` before (after the WebSockets are open) and after the workload;
 * kept unless `keep` is false (a warm-up).
 */
async function cpuOnce(p: Peer, opts: CpuWorkload, keep = true): Promise<void> {
  const { before, after, result: r } = await sampledLoad(
    p.server.url,
    opts,
    () => p.server.cpuMs(),
  );
  const cpu = after - before;
  const e = r.errors;
  const bad = e.connect + e.closedEarly + e.seq + e.lostChunks + e.serverError + e.timeout;
  if (bad || r.answersOk !== r.answersExpected) {
    fail(p, new Error(`${opts.transport} load: ${r.answersOk}/${r.answersExpected} answers ok`));
  }
  if (keep && r.messages) p.cpu[opts.transport].push((cpu * 1000) / r.messages);
}

/** Descriptors the bench keeps for everything but the idle sockets. */
const FD_SPARE = 512;

/**
 * `wanted` idle sockets, or fewer when the bench's open-files limit (Linux
 * `/proc/self/limits`) leaves less room; `wanted` when it cannot be read.
 */
export function idleSocketsAllowed(wanted: number): number {
  try {
    const limits = readFileSync("/proc/self/limits", "utf8");
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    if (soft) return Math.max(1, Math.min(wanted, Number(soft) - FD_SPARE));
  } catch {
    // Not Linux: the asked number stands.
  }
  return wanted;
}

/** WebSockets the memory measure opens at once (a burst of thousands overflows the accept queue). */
const IDLE_BATCH = 250;

/** RSS moves less than this between two reads `SETTLE_POLL_MS` apart: settled. */
const SETTLED_BYTES = 64 * 1024;
const SETTLE_POLL_MS = 250;
/** The longest a settle waits. */
const SETTLE_MAX_MS = 5_000;

/** The server's RSS once it stops moving (or after {@link SETTLE_MAX_MS}). */
async function settledRss(server: Launched): Promise<number> {
  let last = server.rss();
  for (let waited = 0; waited < SETTLE_MAX_MS; waited += SETTLE_POLL_MS) {
    await sleep(SETTLE_POLL_MS);
    const now = server.rss();
    if (Math.abs(now - last) < SETTLED_BYTES) return now;
    last = now;
  }
  return last;
}

/** Opens `n` WebSockets, {@link IDLE_BATCH} at a time; those that failed are counted. */
async function openIdle(url: string, n: number): Promise<{ sockets: WebSocket[]; failed: number }> {
  const sockets: WebSocket[] = [];
  let failed = 0;
  for (let opened = 0; opened < n; opened += IDLE_BATCH) {
    const batch = Array.from(
      { length: Math.min(IDLE_BATCH, n - opened) },
      () =>
        new Promise<void>((resolve) => {
          const ws = new WebSocket(wsUrl(url));
          sockets.push(ws);
          ws.onopen = () => resolve();
          ws.onerror = () => {
            failed++;
            resolve();
          };
        }),
    );
    await Promise.all(batch);
  }
  return { sockets, failed };
}

/**
 * RSS growth per idle WebSocket, on a fresh process of the server: in a
 * long-lived one the allocator hands earlier rounds' freed memory to the
 * new sockets, and the growth is mostly noise. The fresh server first
 * answers one query and opens and closes a batch of sockets (its code
 * paths run once); then its RSS is read once settled, before and after `n`
 * sockets open.
 */
async function idleOnce(p: Peer, n: number): Promise<void> {
  let server: Launched | undefined;
  let sockets: WebSocket[] = [];
  try {
    server = await p.fresh();
    await wsNewQuery(server.url);
    const warm = await openIdle(server.url, Math.min(n, IDLE_BATCH));
    for (const ws of warm.sockets) ws.close();
    await sleep(300);
    const base = await settledRss(server);
    const idle = await openIdle(server.url, n);
    sockets = idle.sockets;
    const rss = await settledRss(server);
    if (idle.failed) throw new Error(`idle memory: ${idle.failed} of ${n} WebSockets did not open`);
    p.idle.push((rss - base) / n);
  } catch (err) {
    fail(p, err);
  } finally {
    for (const ws of sockets) ws.close();
    await sleep(300);
    await server?.close();
  }
}

async function startPeers(
  specs: readonly ServerSpec[],
  w: Workload,
  skipped: string[],
): Promise<Peer[]> {
  const peers: Peer[] = [];
  const add = (name: string, server: Launched, fresh: () => Promise<Launched>) =>
    peers.push({
      name,
      server,
      fresh,
      ttfc: { "ws-reused": [], "ws-new": [], "sse-fetch": [] },
      cpu: { ws: [], sse: [] },
      idle: [],
      errors: 0,
    });
  try {
    for (const s of specs) {
      const start = () => startServer(s.kind, w, { runtime: s.runtime });
      add(serverName(s), await start(), start);
    }
    const why = seedUnavailable();
    if (why) skipped.push(why);
    else add(SEED_NAME, await startSeedServer(w), () => startSeedServer(w));
  } catch (err) {
    await Promise.all(peers.map((p) => p.server.close()));
    throw err;
  }
  return peers;
}

function row(p: Peer): UserMeasureRow {
  return {
    server: p.name,
    ttfc: {
      "ws-reused": spread(p.ttfc["ws-reused"]),
      "ws-new": spread(p.ttfc["ws-new"]),
      "sse-fetch": spread(p.ttfc["sse-fetch"]),
    },
    cpuPerChunkUs: { ws: spread(p.cpu.ws), sse: spread(p.cpu.sse) },
    idleWsBytes: spread(p.idle),
    errors: p.errors,
    firstError: p.firstError,
  };
}

/** Runs the rounds on every server at once; always stops them. */
export async function runUserMeasures(opts: UserMeasureOptions): Promise<UserMeasureReport> {
  const log = opts.log ?? (() => {});
  const skipped: string[] = [];
  const specs = usableServers(opts.servers, { skipped, log });
  const peers = await startPeers(specs, opts.workload, skipped);
  if (skipped.length) { for (const note of skipped) log(`user measures: skipped ${note}`); }
  const idleSockets = idleSocketsAllowed(opts.idleSockets);
  if (idleSockets < opts.idleSockets) {
    log(
      `user measures: ${idleSockets} idle sockets, not ${opts.idleSockets}: the open-files limit`,
    );
  }
  try {
    await ttfcRound(peers, { samples: opts.warmup, keep: false });
    for (let i = 0; i < opts.cpuWarmup; i++) {
      log(`user measures: CPU warm-up ${i + 1}/${opts.cpuWarmup}`);
      for (const p of peers) {
        for (const transport of ["ws", "sse"] as const) {
          await cpuOnce(p, { transport, ...opts.cpu, chunks: opts.workload.chunks }, false);
        }
      }
    }
    for (let round = 1; round <= opts.rounds; round++) {
      log(`user measures: round ${round}/${opts.rounds} (${peers.map((p) => p.name).join(", ")})`);
      await ttfcRound(peers, { samples: opts.ttfcSamples, keep: true });
      for (const p of shuffle([...peers])) {
        for (const transport of shuffle<"ws" | "sse">(["ws", "sse"])) {
          await cpuOnce(p, { transport, ...opts.cpu, chunks: opts.workload.chunks });
        }
        await idleOnce(p, idleSockets);
      }
    }
  } finally {
    for (const p of peers) p.reused?.close();
    await Promise.all(peers.map((p) => p.server.close()));
  }
  return {
    rounds: opts.rounds,
    ttfcSamples: opts.ttfcSamples,
    cpu: opts.cpu,
    cpuWarmup: opts.cpuWarmup,
    idleSockets,
    idleFresh: true,
    workload: opts.workload,
    rows: peers.map(row),
    skipped,
  };
}
