/**
 * The one latency harness: starts the servers under test for a workload,
 * opens a target per (server, transport) (with its reused WebSocket where the
 * transport keeps one), and measures answers on them. `bench/latency.ts`
 * samples round-robin with it; `latency_bench.ts` (Deno.bench) and
 * `latency_mitata.ts` (mitata) hand its {@link LatencyTarget.query} to their
 * frameworks.
 * @module
 */
import {
  type AnswerSample,
  queryOnce,
  ReusedWs,
  type Transport,
  transportAvailable,
  TRANSPORTS,
} from "./clients.ts";
import { RUNTIME, type Runtime } from "./runtime.ts";
import { type Stats, stats } from "./stats.ts";
import {
  availableServers,
  defaultServers,
  type ServerHandle,
  type ServerKind,
  serverName,
  type ServerSpec,
  startServers,
  type Workload,
} from "./launch.ts";

/** A workload with its sample counts. */
export type Sampled = Workload & { samples: number; warmup: number };

/** Full-run settings: 1,000-chunk burst, 20 ms paced. */
export const FULL_LATENCY: { burst: Sampled; paced: Sampled } = {
  burst: { chunks: 1000, chunkBytes: 16, intervalMs: 0, samples: 200, warmup: 20 },
  paced: { chunks: 50, chunkBytes: 16, intervalMs: 20, samples: 40, warmup: 2 },
};

/** Tiny settings for smoke runs. */
export const SMOKE_LATENCY: { burst: Sampled; paced: Sampled } = {
  burst: { chunks: 20, chunkBytes: 16, intervalMs: 0, samples: 3, warmup: 1 },
  paced: { chunks: 3, chunkBytes: 16, intervalMs: 5, samples: 2, warmup: 0 },
};

/** Milliseconds one sampled answer may take before it counts as an error. */
export const ANSWER_TIMEOUT_MS = 30_000;

/** One (server, transport) pair: its query and what sampling collected. */
export class LatencyTarget {
  /** The server answering. */
  readonly server: ServerHandle;
  /** The transport of every query. */
  readonly transport: Transport;
  /** Answers kept by {@link sample}. */
  readonly results: AnswerSample[] = [];
  /** Failed samples. */
  errors = 0;
  /** Message of the first failure. */
  firstError?: string;
  #reused?: ReusedWs;

  private constructor(server: ServerHandle, transport: Transport) {
    this.server = server;
    this.transport = transport;
  }

  /** A target, its reused WebSocket open when the transport keeps one. */
  static async open(server: ServerHandle, transport: Transport): Promise<LatencyTarget> {
    const t = new LatencyTarget(server, transport);
    if (transport === "ws-reused") {
      t.#reused = new ReusedWs(server.url);
      await t.#reused.ready();
    }
    return t;
  }

  /** `<server> <transport>`, the name benches print. */
  get name(): string {
    return `${this.server.name} ${this.transport}`;
  }

  /** One answer, measured. */
  query(): Promise<AnswerSample> {
    return queryOnce(this.transport, this.server.url, this.#reused);
  }

  /**
   * One answer with a time limit; kept in {@link results} when `keep`. A
   * failure is counted (a reused socket is replaced, it may be unusable).
   */
  async sample(keep: boolean): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const r = await Promise.race([
        this.query(),
        new Promise<never>((_, reject) =>
          timer = setTimeout(
            () => reject(new Error(`Answer timed out after ${ANSWER_TIMEOUT_MS / 1000} s`)),
            ANSWER_TIMEOUT_MS,
          )
        ),
      ]);
      if (keep) this.results.push(r);
    } catch (err) {
      this.errors++;
      this.firstError ??= (err as Error).message;
      if (this.#reused) {
        this.#reused.close();
        this.#reused = new ReusedWs(this.server.url);
        await this.#reused.ready().catch(() => {});
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the reused socket, if any. */
  close(): void {
    this.#reused?.close();
  }
}

/** Transports this runtime offers; notes the others in `skipped`. */
export function usableTransports(
  wanted: readonly Transport[] = TRANSPORTS,
  skipped: string[] = [],
): Transport[] {
  return wanted.filter((t) => {
    if (transportAvailable(t)) return true;
    skipped.push(`${t}: not available in this runtime`);
    return false;
  });
}

/** The servers that can run (default all four); notes and logs the others. */
export function usableServers(
  wanted: readonly ServerSpec[] = defaultServers(),
  opts: { skipped?: string[]; log?: (line: string) => void } = {},
): ServerSpec[] {
  const picked = availableServers(wanted);
  for (const note of picked.skipped) {
    opts.skipped?.push(note);
    opts.log?.(`skipped: ${note}`);
  }
  return picked.servers;
}

/** A target per (server, transport), server by server. */
export async function openTargets(
  servers: readonly ServerHandle[],
  transports: readonly Transport[],
): Promise<LatencyTarget[]> {
  const out: LatencyTarget[] = [];
  for (const server of servers) {
    for (const transport of transports) out.push(await LatencyTarget.open(server, transport));
  }
  return out;
}

/**
 * Starts `specs` for a workload, opens their targets, runs `fn` on them and
 * always closes the sockets and stops the servers.
 */
export async function withTargets<T>(
  opts: { specs: readonly ServerSpec[]; workload: Workload; transports: readonly Transport[] },
  fn: (targets: LatencyTarget[], servers: ServerHandle[]) => Promise<T>,
): Promise<T> {
  const servers = await startServers(opts.specs, opts.workload);
  const targets: LatencyTarget[] = [];
  try {
    targets.push(...await openTargets(servers, opts.transports));
    return await fn(targets, servers);
  } finally {
    for (const t of targets) t.close();
    await Promise.all(servers.map((s) => s.close()));
  }
}

/** Results of one (mode, server, runtime, transport) combination. */
export interface LatencyCell {
  mode: "burst" | "paced";
  server: ServerKind;
  /** Runtime of the server process (reports before Bun servers lack it). */
  runtime: Runtime;
  transport: Transport;
  /** Answers measured (after warm-up). */
  samples: number;
  errors: number;
  firstError?: string;
  ttfc: Stats;
  oneWay: Stats;
  ttlc: Stats;
  /** Raw time-to-last-chunk samples, for charts. */
  ttlcSamples: number[];
  /** Up to 2000 one-way samples, for charts. */
  oneWaySamples: number[];
}

/** Options of {@link runLatency}. */
export interface LatencyOptions {
  burst: Sampled;
  paced: Sampled;
  transports?: readonly Transport[];
  /**
   * Servers to compare (default all four); those whose runtime or entry
   * file is missing are skipped with a note in `skipped`.
   */
  servers?: readonly ServerSpec[];
  log?: (line: string) => void;
}

/** What {@link runLatency} returns. */
export interface LatencyReport {
  burst: Workload & { samples: number };
  paced: Workload & { samples: number };
  /** Runtime of the bench process, i.e. of every client. */
  clientRuntime?: Runtime;
  /** Servers measured, e.g. `["ours-deno", "raw-deno", "ours-bun", "raw-bun"]`. */
  servers?: string[];
  cells: LatencyCell[];
  skipped: string[];
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function cell(mode: "burst" | "paced", t: LatencyTarget): LatencyCell {
  const oneWay = t.results.flatMap((r) => r.oneWay);
  const step = Math.max(1, Math.floor(oneWay.length / 2000));
  return {
    mode,
    server: t.server.kind,
    runtime: t.server.runtime,
    transport: t.transport,
    samples: t.results.length,
    errors: t.errors,
    firstError: t.firstError,
    ttfc: stats(t.results.map((r) => r.ttfc)),
    oneWay: stats(oneWay),
    ttlc: stats(t.results.map((r) => r.ttlc)),
    ttlcSamples: t.results.map((r) => r.ttlc),
    oneWaySamples: oneWay.filter((_, i) => i % step === 0),
  };
}

/** Burst: every target sampled round-robin, in a shuffled order each round. */
async function burstRounds(
  targets: LatencyTarget[],
  ctx: { w: Sampled; log: (l: string) => void },
) {
  const { w, log } = ctx;
  log(`burst: ${w.chunks} chunks × ${w.samples} samples × ${targets.length} combinations`);
  const rounds = w.warmup + w.samples;
  for (let i = 0; i < rounds; i++) {
    for (const t of shuffle([...targets])) await t.sample(i >= w.warmup);
    if ((i + 1) % 50 === 0) log(`  burst round ${i + 1}/${rounds}`);
  }
}

/** Paced: every target at once, each answer after the other. */
async function pacedConcurrent(
  targets: LatencyTarget[],
  ctx: { w: Sampled; log: (l: string) => void },
) {
  const { w, log } = ctx;
  log(
    `paced: ${w.chunks} chunks every ${w.intervalMs} ms × ${w.samples} samples × ${targets.length} combinations (concurrent)`,
  );
  await Promise.all(targets.map(async (t) => {
    for (let i = 0; i < w.warmup + w.samples; i++) await t.sample(i >= w.warmup);
  }));
}

/** Runs the burst and paced latency comparison. */
export async function runLatency(opts: LatencyOptions): Promise<LatencyReport> {
  const log = opts.log ?? (() => {});
  const skipped: string[] = [];
  const transports = usableTransports(opts.transports, skipped);
  const specs = usableServers(opts.servers, { skipped, log });
  const cells: LatencyCell[] = [];
  const modes = [["burst", burstRounds], ["paced", pacedConcurrent]] as const;
  for (const [mode, run] of modes) {
    await withTargets({ specs, workload: opts[mode], transports }, async (targets) => {
      await run(targets, { w: opts[mode], log });
      cells.push(...targets.map((t) => cell(mode, t)));
    });
  }
  return {
    burst: { ...opts.burst },
    paced: { ...opts.paced },
    clientRuntime: RUNTIME,
    servers: specs.map(serverName),
    cells,
    skipped,
  };
}
