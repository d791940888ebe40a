/**
 * Latency sampler: the same synthetic workload over four transports against
 * our server and the raw baseline, each on Deno and on Bun (`ours-deno`,
 * `raw-deno`, `ours-bun`, `raw-bun`), measured side by side in one process.
 * The bench process itself (the client side) runs on one runtime for all
 * servers, so server runtimes are compared with the same client.
 *
 * - burst: every combination (server × transport) is sampled round-robin in a
 *   shuffled order each round, so machine noise hits all of them alike;
 * - paced: all combinations run at once (the load is tiny: one chunk per
 *   interval each), each doing its samples one after another.
 *
 * Per answer it records time to first chunk, one-way latency of every chunk
 * (receive time − server `ts`) and time to last chunk.
 *
 * Run: `deno run -A bench/latency.ts [--smoke] [--servers ours-deno,raw-deno]`
 * or `bun bench/latency.ts` (same flags). The default is all four servers;
 * those whose runtime is not installed are skipped with a note.
 * @module
 */
import { existsSync } from "node:fs";
import process from "node:process";
import {
  ALL_SERVERS,
  type AnswerSample,
  availableServers,
  parseServer,
  parseServers,
  queryOnce,
  ReusedWs,
  ROOT,
  RUNTIME,
  type Runtime,
  type ServerHandle,
  type ServerKind,
  serverName,
  type ServerSpec,
  startServer,
  type Stats,
  stats,
  type Transport,
  transportAvailable,
  TRANSPORTS,
  type Workload,
} from "./common.ts";

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
  burst: Workload & { samples: number; warmup: number };
  paced: Workload & { samples: number; warmup: number };
  transports?: readonly Transport[];
  /**
   * Servers to compare (default {@link ALL_SERVERS}); those whose runtime
   * or entry file is missing are skipped with a note in `skipped`.
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

/** Default full-run settings: 1,000-chunk burst, 20 ms paced. */
export const FULL_LATENCY: LatencyOptions = {
  burst: {
    chunks: 1000,
    chunkBytes: 16,
    intervalMs: 0,
    samples: 200,
    warmup: 20,
  },
  paced: { chunks: 50, chunkBytes: 16, intervalMs: 20, samples: 40, warmup: 2 },
};

/** Tiny settings for the smoke test. */
export const SMOKE_LATENCY: LatencyOptions = {
  burst: { chunks: 20, chunkBytes: 16, intervalMs: 0, samples: 3, warmup: 1 },
  paced: { chunks: 3, chunkBytes: 16, intervalMs: 5, samples: 2, warmup: 0 },
};

interface Combo {
  server: ServerHandle;
  transport: Transport;
  reused?: ReusedWs;
  results: AnswerSample[];
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

async function sample(c: Combo, keep: boolean): Promise<void> {
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      queryOnce(c.transport, c.server.url, c.reused),
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error("Answer timed out after 30 s")),
          30_000,
        )
      ),
    ]).finally(() => clearTimeout(timer));
    if (keep) c.results.push(r);
  } catch (err) {
    c.errors++;
    c.firstError ??= (err as Error).message;
    if (c.transport === "ws-reused") {
      // The socket may be unusable now: replace it.
      c.reused?.close();
      c.reused = new ReusedWs(c.server.url);
      await c.reused.ready().catch(() => {});
    }
  }
}

async function combos(
  servers: ServerHandle[],
  transports: readonly Transport[],
): Promise<Combo[]> {
  const out: Combo[] = [];
  for (const server of servers) {
    for (const transport of transports) {
      const c: Combo = { server, transport, results: [], errors: 0 };
      if (transport === "ws-reused") {
        c.reused = new ReusedWs(server.url);
        await c.reused.ready();
      }
      out.push(c);
    }
  }
  return out;
}

function cell(mode: "burst" | "paced", c: Combo): LatencyCell {
  const oneWay = c.results.flatMap((r) => r.oneWay);
  const step = Math.max(1, Math.floor(oneWay.length / 2000));
  return {
    mode,
    server: c.server.kind,
    runtime: c.server.runtime,
    transport: c.transport,
    samples: c.results.length,
    errors: c.errors,
    firstError: c.firstError,
    ttfc: stats(c.results.map((r) => r.ttfc)),
    oneWay: stats(oneWay),
    ttlc: stats(c.results.map((r) => r.ttlc)),
    ttlcSamples: c.results.map((r) => r.ttlc),
    oneWaySamples: oneWay.filter((_, i) => i % step === 0),
  };
}

/** True when our server's entry point exists. */
export function oursAvailable(): boolean {
  return existsSync(`${ROOT}/main.ts`);
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

/** The default server list: {@link ALL_SERVERS}. */
export function defaultServers(): ServerSpec[] {
  return ALL_SERVERS.map(parseServer);
}

/** Runs the burst and paced latency comparison. */
export async function runLatency(opts: LatencyOptions): Promise<LatencyReport> {
  const log = opts.log ?? (() => {});
  const skipped: string[] = [];
  const transports = (opts.transports ?? TRANSPORTS).filter((t) => {
    if (transportAvailable(t)) return true;
    skipped.push(`${t}: not available in this runtime`);
    return false;
  });
  const picked = availableServers(opts.servers ?? defaultServers());
  for (const note of picked.skipped) {
    skipped.push(note);
    log(`skipped: ${note}`);
  }
  const kinds = picked.servers;
  const cells: LatencyCell[] = [];

  // Burst: round-robin, shuffled each round.
  {
    const servers = await startServers(kinds, opts.burst);
    try {
      const cs = await combos(servers, transports);
      log(
        `burst: ${opts.burst.chunks} chunks × ${opts.burst.samples} samples × ${cs.length} combinations`,
      );
      const rounds = opts.burst.warmup + opts.burst.samples;
      for (let i = 0; i < rounds; i++) {
        for (const c of shuffle([...cs])) {
          await sample(c, i >= opts.burst.warmup);
        }
        if ((i + 1) % 50 === 0) log(`  burst round ${i + 1}/${rounds}`);
      }
      for (const c of cs) {
        c.reused?.close();
        cells.push(cell("burst", c));
      }
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  }

  // Paced: all combinations concurrently.
  {
    const servers = await startServers(kinds, opts.paced);
    try {
      const cs = await combos(servers, transports);
      log(
        `paced: ${opts.paced.chunks} chunks every ${opts.paced.intervalMs} ms × ${opts.paced.samples} samples × ${cs.length} combinations (concurrent)`,
      );
      await Promise.all(cs.map(async (c) => {
        for (let i = 0; i < opts.paced.warmup + opts.paced.samples; i++) {
          await sample(c, i >= opts.paced.warmup);
        }
      }));
      for (const c of cs) {
        c.reused?.close();
        cells.push(cell("paced", c));
      }
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  }
  return {
    burst: { ...opts.burst },
    paced: { ...opts.paced },
    clientRuntime: RUNTIME,
    servers: kinds.map(serverName),
    cells,
    skipped,
  };
}

/** The cell of a (mode, server, transport), if it ran with samples. */
export function findCell(
  report: LatencyReport,
  mode: "burst" | "paced",
  server: ServerSpec,
  transport: Transport | string,
): LatencyCell | undefined {
  const c = report.cells.find((c) =>
    c.mode === mode && c.transport === transport && c.server === server.kind &&
    (c.runtime ?? "deno") === server.runtime
  );
  return c && c.samples ? c : undefined;
}

/** `a / b` of a statistic between two servers' cells, if both ran. */
export function serverRatio(
  report: LatencyReport,
  mode: "burst" | "paced",
  transport: Transport | string,
  pick: (c: LatencyCell) => number,
  a: ServerSpec,
  b: ServerSpec,
): number | undefined {
  const x = findCell(report, mode, a, transport);
  const y = findCell(report, mode, b, transport);
  return x && y ? pick(x) / pick(y) : undefined;
}

/**
 * `ours / raw` ratio of a statistic for a mode and transport on one server
 * runtime (default Deno), if both ran.
 */
export function ratio(
  report: LatencyReport,
  mode: "burst" | "paced",
  transport: Transport | string,
  pick: (c: LatencyCell) => number,
  runtime: Runtime = "deno",
): number | undefined {
  return serverRatio(report, mode, transport, pick, { kind: "ours", runtime }, {
    kind: "raw",
    runtime,
  });
}

/** `bun / deno` ratio of a statistic for one server kind, if both ran. */
export function runtimeRatio(
  report: LatencyReport,
  mode: "burst" | "paced",
  transport: Transport | string,
  pick: (c: LatencyCell) => number,
  kind: ServerKind = "ours",
): number | undefined {
  return serverRatio(report, mode, transport, pick, { kind, runtime: "bun" }, {
    kind,
    runtime: "deno",
  });
}

/** `a / b` ratio between two transports on one server, if both ran. */
export function transportRatio(
  report: LatencyReport,
  mode: "burst" | "paced",
  server: ServerSpec,
  transports: [Transport | string, Transport | string],
  pick: (c: LatencyCell) => number,
): number | undefined {
  const x = findCell(report, mode, server, transports[0]);
  const y = findCell(report, mode, server, transports[1]);
  return x && y ? pick(x) / pick(y) : undefined;
}

if (import.meta.main) {
  const smoke = process.argv.includes("--smoke");
  const at = process.argv.indexOf("--servers");
  const report = await runLatency({
    ...(smoke ? SMOKE_LATENCY : FULL_LATENCY),
    servers: at >= 0 ? parseServers(process.argv[at + 1] ?? "") : undefined,
    log: (l) => console.error(l),
  });
  const f = (n: number) => n.toFixed(2);
  console.log(
    `client: ${RUNTIME}\nmode  server    transport        n   ttfc p50/p95/p99    one-way p50/p95/p99   ttlc p50/p95/p99 (ms)`,
  );
  for (const c of report.cells) {
    console.log(
      `${c.mode.padEnd(5)} ${`${c.server}-${c.runtime}`.padEnd(9)} ${c.transport.padEnd(15)} ${
        String(c.samples).padStart(4)
      }  ${f(c.ttfc.p50)}/${f(c.ttfc.p95)}/${f(c.ttfc.p99)}  ${f(c.oneWay.p50)}/${
        f(c.oneWay.p95)
      }/${f(c.oneWay.p99)}  ${f(c.ttlc.p50)}/${f(c.ttlc.p95)}/${f(c.ttlc.p99)}${
        c.errors ? `  errors ${c.errors}: ${c.firstError}` : ""
      }`,
    );
  }
  for (const s of report.skipped) console.log(`skipped: ${s}`);
  process.exit(0);
}
