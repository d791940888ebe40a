/**
 * Runs the whole suite (latency, concurrent connections, browser limit) and
 * writes `bench/results/<date>-<runtime>.md` and `.json` plus SVG charts,
 * printing progress to stderr as it goes.
 *
 * ```
 * deno run -A bench/report.ts                 # full run
 * deno run -A bench/report.ts --smoke         # seconds, tiny N
 * deno run -A bench/report.ts --load-client bun --out /tmp/x
 * deno run -A bench/report.ts --servers ours-deno,raw-deno   # latency servers
 * deno run -A bench/report.ts --load-server-runtime both     # load ramp on both
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
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BrowserReport, FULL_BROWSER, runBrowser, SMOKE_BROWSER } from "./browser.ts";
import { lineChart, percentileChart } from "./charts.ts";
import {
  ALL_SERVERS,
  parseServer,
  parseServers,
  ROOT,
  RUNTIME,
  type Runtime,
  RUNTIME_VERSION,
  RUNTIMES,
  runtimeVersionOf,
  type ServerKind,
  serverName,
  type ServerSpec,
  type Stats,
  type Transport,
  TRANSPORTS,
} from "./common.ts";
import {
  findCell,
  FULL_LATENCY,
  type LatencyCell,
  type LatencyReport,
  ratio,
  runLatency,
  runtimeRatio,
  SMOKE_LATENCY,
  transportRatio,
} from "./latency.ts";
import {
  FULL_LOAD,
  type LoadLevel,
  type LoadOptions,
  parseServerRuntimes,
  runLoadRamp,
  SMOKE_LOAD,
} from "./load.ts";

/** Everything a report holds. */
export interface SuiteResult {
  date: string;
  runtime: string;
  runtimeVersion: string;
  machine: { cpus: number; cpuModel: string; memGiB: number; os: string };
  smoke: boolean;
  /** Version of each server runtime's executable (undefined: not installed). */
  serverRuntimes?: Partial<Record<Runtime, string | undefined>>;
  latency?: LatencyReport;
  load?: { options: LoadOptions; levels: LoadLevel[] };
  browser?: BrowserReport;
  durationMs: number;
}

/** Options of {@link runSuite}. */
export interface SuiteOptions {
  smoke?: boolean;
  skipLoad?: boolean;
  skipBrowser?: boolean;
  skipLatency?: boolean;
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

const f2 = (n: number | undefined) => n === undefined || Number.isNaN(n) ? "–" : n.toFixed(2);
const fx = (n: number | undefined) => n === undefined || Number.isNaN(n) ? "–" : `${n.toFixed(2)}×`;
const pct = (s: Stats) => `${f2(s.p50)} / ${f2(s.p95)} / ${f2(s.p99)}`;
const kib = (b: number | undefined) => b === undefined ? "–" : (b / 1024).toFixed(1);

function latencyTable(cells: LatencyCell[]): string[] {
  const lines = [
    "| server | transport | answers | errors | TTFC p50 / p95 / p99 | one-way per chunk p50 / p95 / p99 | TTLC p50 / p95 / p99 |",
    "| --- | --- | ---: | ---: | --- | --- | --- |",
  ];
  for (const c of cells) {
    lines.push(
      `| ${cellServer(c)} | ${c.transport} | ${c.samples} | ${c.errors} | ${pct(c.ttfc)} | ${
        pct(c.oneWay)
      } | ${pct(c.ttlc)} |`,
    );
  }
  return lines;
}

/** `ours-deno` etc. of a cell. */
function cellServer(c: LatencyCell): string {
  return `${c.server}-${c.runtime}`;
}

/** Cells in report order: server (ours-deno, raw-deno, ours-bun, raw-bun), then transport. */
function sortCells(cells: LatencyCell[]): LatencyCell[] {
  const rank = (c: LatencyCell) =>
    (ALL_SERVERS as readonly string[]).indexOf(cellServer(c)) * 10 +
    TRANSPORTS.indexOf(c.transport);
  return [...cells].sort((a, b) => rank(a) - rank(b));
}

/**
 * Fills in `runtime` on cells of reports written before the Bun servers
 * existed: `ours` ran on Deno, `raw` on the bench's runtime.
 */
export function normalizeLatency(lat: LatencyReport, benchRuntime: string): LatencyReport {
  const raw: Runtime = benchRuntime === "bun" ? "bun" : "deno";
  return {
    ...lat,
    cells: lat.cells.map((c) => ({
      ...c,
      runtime: c.runtime ?? (c.server === "ours" ? "deno" : raw),
    })),
  };
}

/** Ratios within this distance of 1 are called "on par" in the report's prose. */
export const PAR_BAND = 0.05;

function geomean(xs: number[]): number {
  return xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : NaN;
}

/**
 * Compares two times in words, from the ratio `a / b`: "1.52× faster than
 * <b>", "1.20× slower than <b>" or "on par with <b> (within 5%)".
 */
export function speedWords(ratio: number, than: string): string {
  if (!Number.isFinite(ratio)) return `not comparable with ${than}`;
  if (ratio < 1 - PAR_BAND) return `${(1 / ratio).toFixed(2)}× faster than ${than}`;
  if (ratio > 1 + PAR_BAND) return `${ratio.toFixed(2)}× slower than ${than}`;
  return `on par with ${than} (within ${Math.round(PAR_BAND * 100)}%)`;
}

const RUNTIME_NAME: Record<Runtime, string> = { deno: "Deno", bun: "Bun" };

/** The transports measured on both runtimes for a server kind in a mode. */
function bothRuntimes(lat: LatencyReport, mode: "burst" | "paced", kind: ServerKind): Transport[] {
  return TRANSPORTS.filter((t) =>
    findCell(lat, mode, { kind, runtime: "deno" }, t) &&
    findCell(lat, mode, { kind, runtime: "bun" }, t)
  );
}

/**
 * The "Deno vs Bun" section: Bun/Deno ratios per transport for our server
 * and the raw baseline, WS/SSE ratios per runtime, and sentences of
 * conclusion computed from those ratios.
 */
export function denoVsBunSection(lat: LatencyReport): string[] {
  const md: string[] = ["## Deno vs Bun", ""];
  const ttlc50 = (c: LatencyCell) => c.ttlc.p50;
  const oursT = bothRuntimes(lat, "burst", "ours");
  const rawT = bothRuntimes(lat, "burst", "raw");
  if (oursT.length === 0 && rawT.length === 0) {
    const why = lat.skipped.filter((s) => /-(bun|deno):/.test(s));
    md.push(
      `Not measured: this run did not have both runtimes' servers${
        why.length ? ` (${why.join("; ")})` : ""
      }.`,
      "",
    );
    return md;
  }
  const client = lat.clientRuntime ?? "deno";
  md.push(
    `The same clients (the bench runs under **${client}**) against each server on each runtime, in the same round-robin as above. ` +
      "Ratios are Bun / Deno of a time: below 1× Bun is faster. `ours-bun` is `bun bun.ts` (the same Hono app over `hono/bun`, session history in `bun:sqlite` `:memory:` instead of Deno KV); `raw-bun` is `bench/raw_server.ts` on `Bun.serve`.",
    "",
    "| transport | ours TTFC p50, burst | ours TTLC p50, burst | ours TTLC p95, burst | ours one-way p50, paced | raw TTLC p50, burst | raw one-way p50, paced |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  const transports = TRANSPORTS.filter((t) => oursT.includes(t) || rawT.includes(t));
  for (const t of transports) {
    md.push(
      `| ${t} | ${fx(runtimeRatio(lat, "burst", t, (c) => c.ttfc.p50))} | ${
        fx(runtimeRatio(lat, "burst", t, ttlc50))
      } | ${fx(runtimeRatio(lat, "burst", t, (c) => c.ttlc.p95))} | ${
        fx(runtimeRatio(lat, "paced", t, (c) => c.oneWay.p50))
      } | ${fx(runtimeRatio(lat, "burst", t, ttlc50, "raw"))} | ${
        fx(runtimeRatio(lat, "paced", t, (c) => c.oneWay.p50, "raw"))
      } |`,
    );
  }
  md.push(
    "",
    "### WS vs SSE on each runtime",
    "",
    "WS / SSE (fetch) of a time: below 1× the WebSocket is faster.",
    "",
    "| server | WS reused / SSE, TTFC p50, burst | WS reused / SSE, TTLC p50, burst | WS new / SSE, TTLC p50, burst | WS reused / SSE, one-way p50, paced |",
    "| --- | ---: | ---: | ---: | ---: |",
  );
  const specs = ALL_SERVERS.map(parseServer).filter((s) =>
    lat.cells.some((c) => c.server === s.kind && c.runtime === s.runtime)
  );
  for (const s of specs) {
    md.push(
      `| ${serverName(s)} | ${
        fx(transportRatio(lat, "burst", s, ["ws-reused", "sse-fetch"], (c) => c.ttfc.p50))
      } | ${fx(transportRatio(lat, "burst", s, ["ws-reused", "sse-fetch"], ttlc50))} | ${
        fx(transportRatio(lat, "burst", s, ["ws-new", "sse-fetch"], ttlc50))
      } | ${
        fx(transportRatio(lat, "paced", s, ["ws-reused", "sse-fetch"], (c) => c.oneWay.p50))
      } |`,
    );
  }
  md.push("", ...denoVsBunConclusion(lat), "");
  return md;
}

/** Sentences of conclusion for {@link denoVsBunSection}, derived from the ratios. */
export function denoVsBunConclusion(lat: LatencyReport): string[] {
  const out: string[] = [];
  const ttlc50 = (c: LatencyCell) => c.ttlc.p50;
  const list = (rs: [string, number][]) => rs.map(([t, x]) => `${t} ${fx(x)}`).join(", ");
  const tally = (rs: [string, number][]) => {
    const faster = rs.filter(([, x]) => x < 1 - PAR_BAND).length;
    const slower = rs.filter(([, x]) => x > 1 + PAR_BAND).length;
    return `faster on ${faster}, slower on ${slower}, on par on ${
      rs.length - faster - slower
    } of ${rs.length} transports`;
  };
  const ratios = (mode: "burst" | "paced", kind: ServerKind, pick: (c: LatencyCell) => number) =>
    bothRuntimes(lat, mode, kind).map((t) =>
      [t, runtimeRatio(lat, mode, t, pick, kind)!] as [string, number]
    );
  const ours = ratios("burst", "ours", ttlc50);
  const raw = ratios("burst", "raw", ttlc50);
  if (ours.length) {
    const g = geomean(ours.map(([, x]) => x));
    out.push(
      `**Conclusion.** On a ${lat.burst.chunks}-chunk burst (TTLC p50) our server on Bun is ${
        speedWords(g, "on Deno")
      } (geometric mean of Bun/Deno ${fx(g)}; ${tally(ours)}: ${list(ours)}).`,
    );
  }
  if (raw.length) {
    const g = geomean(raw.map(([, x]) => x));
    out.push(
      `The raw baseline on Bun is ${speedWords(g, "on Deno")} (geometric mean ${fx(g)}; ${
        tally(raw)
      }).`,
    );
  }
  const overhead = (rt: Runtime) => {
    const xs = TRANSPORTS.map((t) => ratio(lat, "burst", t, ttlc50, rt)).filter((
      x,
    ): x is number => x !== undefined);
    return xs.length ? geomean(xs) : undefined;
  };
  const od = overhead("deno"), ob = overhead("bun");
  if (od !== undefined && ob !== undefined) {
    out.push(
      `Our stack's overhead over the raw server on the same runtime (ours/raw TTLC p50, geometric mean over transports) is ${
        fx(od)
      } on Deno and ${fx(ob)} on Bun, so ${
        Math.abs(ob / od - 1) <= PAR_BAND
          ? "it costs about the same share on both runtimes"
          : ob < od
          ? "it costs a smaller share on Bun"
          : "it costs a larger share on Bun"
      }.`,
    );
  }
  const paced = ratios("paced", "ours", (c) => c.oneWay.p50);
  if (paced.length) {
    const g = geomean(paced.map(([, x]) => x));
    out.push(
      `Paced (${lat.paced.intervalMs} ms between chunks), our server's one-way latency p50 on Bun is ${
        speedWords(g, "on Deno")
      } (geometric mean ${fx(g)}).`,
    );
  }
  const ws: [Runtime, number][] = [];
  for (const rt of RUNTIMES) {
    const x = transportRatio(lat, "burst", { kind: "ours", runtime: rt }, [
      "ws-reused",
      "sse-fetch",
    ], ttlc50);
    if (x !== undefined) ws.push([rt, x]);
  }
  if (ws.length) {
    const wins = ws.filter(([, x]) => x < 1 - PAR_BAND).map(([rt]) => RUNTIME_NAME[rt]);
    const where = wins.length === ws.length
      ? (ws.length > 1 ? "on both runtimes" : `on ${wins[0]}`)
      : wins.length
      ? `on ${wins.join(" and ")} only`
      : "on neither runtime";
    out.push(
      `A reused WebSocket finishes the burst before SSE (fetch) ${where} (ours, WS/SSE TTLC p50: ${
        ws.map(([rt, x]) => `${RUNTIME_NAME[rt]} ${fx(x)}`).join(", ")
      }).`,
    );
  }
  return out.length ? [out.join(" ")] : [];
}

/** Builds the Markdown report and chart files; returns name → content. */
export function renderReport(
  r: SuiteResult,
  baseName: string,
): Map<string, string> {
  const files = new Map<string, string>();
  const md: string[] = [];
  const lat = r.latency ? normalizeLatency(r.latency, r.runtime) : undefined;
  md.push(
    `# WebSocket vs SSE benchmark: ${r.date.slice(0, 10)} (${r.runtime})`,
    "",
    `Produced by \`bench/report.ts\` under **${r.runtime} ${r.runtimeVersion}** (the runtime of the bench and of every latency client) on ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memGiB} GiB, ${r.machine.os}${
      r.smoke ? " — **smoke run (tiny N, not a measurement)**" : ""
    }. Suite took ${(r.durationMs / 1000).toFixed(0)} s.${
      r.serverRuntimes
        ? ` Server runtimes: ${
          Object.entries(r.serverRuntimes).map(([k, v]) => `${k} ${v ?? "not installed"}`).join(
            ", ",
          )
        }.`
        : ""
    }`,
    "",
    "The machine is shared and noisy: read the ratios (measured side by side in one run), not the absolute milliseconds. " +
      'Servers are named `<implementation>-<runtime>`. "ours-deno" is `main.ts` (Hono + zod-validated frames + chat core + a Deno KV write of the session history per answer, KV_PATH=:memory:); ' +
      '"ours-bun" is `bun.ts` (the same app on `Bun.serve` via `hono/bun`, history in `bun:sqlite` `:memory:`); ' +
      '"raw-deno" / "raw-bun" are `bench/raw_server.ts` (plain `Deno.serve` + `Deno.upgradeWebSocket`, or `Bun.serve`; plain SSE stream, same frame bytes incl. `ts` and `seq`, no validation, no store). ' +
      "The rate limit and per-IP connection cap of ours are switched off for the bench.",
    "",
  );
  if (lat) {
    const cellsOf = (mode: "burst" | "paced") =>
      sortCells(lat.cells.filter((c) => c.mode === mode));
    const ttlc50 = (c: LatencyCell) => c.ttlc.p50;
    const ttlc95 = (c: LatencyCell) => c.ttlc.p95;
    const runtimesOf = (kind: ServerKind) =>
      RUNTIMES.filter((rt) => lat.cells.some((c) => c.server === kind && c.runtime === rt));
    const overheadRuntimes = runtimesOf("ours").filter((rt) => runtimesOf("raw").includes(rt));
    md.push("## Headline", "");
    md.push(
      "| measure | value | target |",
      "| --- | --- | --- |",
    );
    const target = (x: number | undefined) =>
      `≤ 1.15× ${x === undefined ? "" : x <= 1.15 ? "**met**" : "**missed**"}`;
    for (const rt of overheadRuntimes) {
      const wsR = ratio(lat, "burst", "ws-reused", ttlc50, rt);
      const sseR = ratio(lat, "burst", "sse-fetch", ttlc50, rt);
      md.push(
        `| ours-${rt}/raw-${rt}, WS (reused) TTLC p50, ${lat.burst.chunks}-chunk burst | ${
          fx(wsR)
        } (p95 ${fx(ratio(lat, "burst", "ws-reused", ttlc95, rt))}) | ${target(wsR)} |`,
        `| ours-${rt}/raw-${rt}, SSE (fetch) TTLC p50, ${lat.burst.chunks}-chunk burst | ${
          fx(sseR)
        } (p95 ${fx(ratio(lat, "burst", "sse-fetch", ttlc95, rt))}) | ${target(sseR)} |`,
      );
    }
    const loadLevels = r.load?.levels ?? [];
    for (const rt of RUNTIMES) {
      const ws10k = loadLevels.find((l) =>
        l.transport === "ws" && l.connections >= 10_000 && (l.serverRuntime ?? "deno") === rt
      );
      if (!ws10k?.result) continue;
      const e = ws10k.result.errors;
      const lost = e.seq + e.lostChunks + e.closedEarly + e.connect +
        e.timeout + e.serverError;
      md.push(
        `| ${ws10k.server}-${rt}: ${ws10k.connections} concurrent WS streams, answers complete and in order | ${ws10k.result.answersOk}/${ws10k.result.answersExpected}, ${lost} errors | all, 0 lost/reordered ${
          lost === 0 && ws10k.result.answersOk === ws10k.result.answersExpected
            ? "**met**"
            : "**missed**"
        } |`,
      );
    }
    const pair = (
      rt: Runtime,
      mode: "burst" | "paced",
      a: Transport,
      b: Transport,
      pick: (c: LatencyCell) => number,
    ) => transportRatio(lat, mode, { kind: "ours", runtime: rt }, [a, b], pick);
    for (const rt of runtimesOf("ours")) {
      md.push(
        `| ours-${rt}, WS reused / SSE fetch, TTFC p50, burst | ${
          fx(pair(rt, "burst", "ws-reused", "sse-fetch", (c) => c.ttfc.p50))
        } | (claim: WS lower latency) |`,
        `| ours-${rt}, WS new-per-query / SSE fetch, TTFC p50, burst | ${
          fx(pair(rt, "burst", "ws-new", "sse-fetch", (c) => c.ttfc.p50))
        } | (claim: WS lower latency) |`,
        `| ours-${rt}, WS reused / SSE fetch, TTLC p50, burst | ${
          fx(pair(rt, "burst", "ws-reused", "sse-fetch", ttlc50))
        } | (claim: WS lower latency) |`,
        `| ours-${rt}, WS reused / SSE fetch, one-way per-chunk p50, paced | ${
          fx(pair(rt, "paced", "ws-reused", "sse-fetch", (c) => c.oneWay.p50))
        } | (claim: WS lower latency) |`,
      );
    }
    if (runtimesOf("ours").length === 2) {
      for (const t of ["ws-reused", "sse-fetch"] as const) {
        md.push(
          `| ours, Bun / Deno, ${t} TTLC p50, burst | ${
            fx(runtimeRatio(lat, "burst", t, ttlc50))
          } | (see Deno vs Bun) |`,
        );
      }
    }
    md.push("");
    md.push(
      "TTFC = query sent (or, for a new connection, connect started) → first content frame; " +
        "one-way = receive time − the server's `ts` in each frame (same machine, both clocks are `performance.timeOrigin + performance.now()`); " +
        "TTLC = query sent → last content frame. All in ms.",
      "",
    );
    md.push(
      `## Latency: burst (${lat.burst.chunks} chunks × ${lat.burst.chunkBytes} B back to back)`,
      "",
      "Every combination sampled round-robin in a shuffled order each round.",
      "",
      ...latencyTable(cellsOf("burst")),
      "",
      "### Overhead against the raw baseline (ours / raw, same runtime)",
      "",
      "| runtime | transport | TTFC p50 | one-way p50 | TTLC p50 | TTLC p95 |",
      "| --- | --- | ---: | ---: | ---: | ---: |",
    );
    const transportsRun = TRANSPORTS.filter((t) => lat.cells.some((c) => c.transport === t));
    for (const rt of overheadRuntimes) {
      for (const t of transportsRun) {
        md.push(
          `| ${rt} | ${t} | ${fx(ratio(lat, "burst", t, (c) => c.ttfc.p50, rt))} | ${
            fx(ratio(lat, "burst", t, (c) => c.oneWay.p50, rt))
          } | ${fx(ratio(lat, "burst", t, ttlc50, rt))} | ${
            fx(ratio(lat, "burst", t, ttlc95, rt))
          } |`,
        );
      }
    }
    md.push(
      "",
      `![burst TTLC](${baseName}-burst-ttlc.svg)`,
      "",
      `## Latency: paced (${lat.paced.chunks} chunks, one every ${lat.paced.intervalMs} ms, LLM-like)`,
      "",
      "All combinations run concurrently, each answer after the other.",
      "",
      ...latencyTable(cellsOf("paced")),
      "",
      "| runtime | transport | ours/raw one-way p50 | ours/raw one-way p99 | ours/raw TTFC p50 |",
      "| --- | --- | ---: | ---: | ---: |",
    );
    for (const rt of overheadRuntimes) {
      for (const t of transportsRun) {
        md.push(
          `| ${rt} | ${t} | ${fx(ratio(lat, "paced", t, (c) => c.oneWay.p50, rt))} | ${
            fx(ratio(lat, "paced", t, (c) => c.oneWay.p99, rt))
          } | ${fx(ratio(lat, "paced", t, (c) => c.ttfc.p50, rt))} |`,
        );
      }
    }
    md.push("", `![paced one-way](${baseName}-paced-oneway.svg)`, "");
    for (const s of lat.skipped) md.push(`- skipped: ${s}`);
    const errs = lat.cells.filter((c) => c.errors);
    for (const c of errs) {
      md.push(
        `- ${c.mode} ${cellServer(c)} ${c.transport}: ${c.errors} errors, first: ${c.firstError}`,
      );
    }
    md.push("", ...denoVsBunSection(lat));
    const group = (c: LatencyCell) =>
      Math.max(0, (ALL_SERVERS as readonly string[]).indexOf(cellServer(c)));
    files.set(
      `${baseName}-burst-ttlc.svg`,
      percentileChart(
        `Time to last chunk, ${lat.burst.chunks}-chunk burst`,
        "ms",
        cellsOf("burst").map((c) => ({
          label: `${cellServer(c)} ${c.transport}`,
          stats: c.ttlc,
          group: group(c),
        })),
      ),
    );
    files.set(
      `${baseName}-paced-oneway.svg`,
      percentileChart(
        `One-way per-chunk latency, paced (${lat.paced.intervalMs} ms)`,
        "ms",
        cellsOf("paced").map((c) => ({
          label: `${cellServer(c)} ${c.transport}`,
          stats: c.oneWay,
          group: group(c),
        })),
      ),
    );
  }
  const load = r.load;
  if (load) {
    const o = load.options;
    md.push(
      "## Concurrent connections",
      "",
      `Server: ${
        [...new Set(load.levels.map((l) => `${l.server}-${l.serverRuntime ?? "deno"}`))].join(
          " and ",
        ) || "ours-deno"
      } (fresh process per level, \`ulimit -n 20000\`). ` +
        `Each client streams ${o.turns} answers of ${o.workload.chunks} chunks (one every ${o.workload.intervalMs} ms, ${o.workload.chunkBytes} B): ` +
        `WS clients open their socket first (measured idle), then ask ${o.turns} questions on it; SSE clients make one request per answer. ` +
        `Starts are spread over ${o.rampMs} ms. Load generator: \`bench/load_gen.ts\` in a separate **${o.client}** process; its own CPU is reported. ` +
        `Every frame's \`seq\` is checked to be previous+1; an answer counts as ok only with all ${o.workload.chunks} chunks in order. ` +
        `Ideal TTLC ≈ ${
          (o.workload.chunks - 1) * o.workload.intervalMs
        } ms; demanded rate = connections × ${1000 / o.workload.intervalMs} msg/s.`,
      "",
      "| server | transport | conns | answers ok | errors (connect/closed/seq/lost/server/timeout) | msg/s, whole window incl. ramp (steady-state demand) | one-way p50 / p99 ms | TTLC p50 / p99 ms | server CPU % | loadgen CPU % | RSS base MiB | KiB/conn idle | KiB/conn streaming |",
      "| --- | --- | ---: | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const l of load.levels) {
      const x = l.result;
      const name = `${l.server}-${l.serverRuntime ?? "deno"}`;
      if (!x) {
        md.push(
          `| ${name} | ${l.transport} | ${l.connections} | failed: ${
            l.failure?.slice(0, 120)
          } | | | | | | | | | |`,
        );
        continue;
      }
      const e = x.errors;
      md.push(
        `| ${name} | ${l.transport} | ${l.connections} | ${x.answersOk}/${x.answersExpected} | ${e.connect}/${e.closedEarly}/${e.seq}/${e.lostChunks}/${e.serverError}/${e.timeout} | ${x.messagesPerSec} (${
          l.connections * 1000 / o.workload.intervalMs
        }) | ${f2(x.latencyMs.p50)} / ${f2(x.latencyMs.p99)} | ${
          x.ttlcMs ? `${f2(x.ttlcMs.p50)} / ${f2(x.ttlcMs.p99)}` : "–"
        } | ${l.serverCpuPercent} | ${x.loadGenCpu.percentOfOneCore} | ${
          (l.baseRss / 2 ** 20).toFixed(0)
        } | ${kib(l.idleBytesPerConn)} | ${kib(l.streamingBytesPerConn)} |`,
      );
    }
    md.push(
      "",
      "SSE has no idle column: an SSE connection exists only while an answer streams, so between turns it costs the server nothing, where an idle WebSocket keeps its memory.",
      "",
      `![memory per connection](${baseName}-memory.svg)`,
      "",
      `![throughput](${baseName}-throughput.svg)`,
      "",
    );
    const loadRuntimes = RUNTIMES.filter((rt) =>
      load.levels.some((l) => (l.serverRuntime ?? "deno") === rt)
    );
    const suffix = (rt: Runtime) => loadRuntimes.length > 1 ? ` (${rt})` : "";
    const series = (
      rt: Runtime,
      t: "ws" | "sse",
      pick: (l: LoadLevel) => number | undefined,
    ) =>
      load.levels.filter((l) => l.transport === t && l.result && (l.serverRuntime ?? "deno") === rt)
        .map((l) => [l.connections, pick(l) ?? NaN] as [number, number]).filter((p) =>
          Number.isFinite(p[1])
        );
    files.set(
      `${baseName}-memory.svg`,
      lineChart(
        "Server memory per connection",
        { x: "concurrent connections (log)", y: "KiB per connection" },
        loadRuntimes.flatMap((rt) => [
          {
            name: `WS streaming${suffix(rt)}`,
            points: series(rt, "ws", (l) => l.streamingBytesPerConn / 1024),
          },
          {
            name: `WS idle${suffix(rt)}`,
            points: series(
              rt,
              "ws",
              (l) => l.idleBytesPerConn !== undefined ? l.idleBytesPerConn / 1024 : undefined,
            ),
          },
          {
            name: `SSE streaming${suffix(rt)}`,
            points: series(rt, "sse", (l) => l.streamingBytesPerConn / 1024),
          },
        ]),
      ),
    );
    files.set(
      `${baseName}-throughput.svg`,
      lineChart(
        "Achieved content frames per second",
        { x: "concurrent connections (log)", y: "messages / s" },
        [
          ...loadRuntimes.flatMap((rt) => [
            { name: `WS${suffix(rt)}`, points: series(rt, "ws", (l) => l.result?.messagesPerSec) },
            {
              name: `SSE${suffix(rt)}`,
              points: series(rt, "sse", (l) => l.result?.messagesPerSec),
            },
          ]),
          {
            name: "demanded",
            points: [...new Set(load.levels.map((l) => l.connections))].map((
              n,
            ) => [n, n * 1000 / o.workload.intervalMs] as [number, number]),
          },
        ],
      ),
    );
  }
  const b = r.browser;
  if (b) {
    md.push("## Browser connection limit (Chromium)", "");
    if (b.skipped) {
      md.push(`Skipped: ${b.skipped}.`, "");
    } else {
      md.push(
        `Chromium ${b.chromium}, headless, a fresh context per row: open ${
          b.scenarios[0]?.requested ?? 10
        } streams to one origin, count after ${b.windowMs} ms, then time one plain \`fetch\` to the same origin (null = still blocked after 1.5 s).`,
        "",
        "| server | protocol | transport | requested | opened | receiving | fetch while open (ms) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
      );
      for (const s of b.scenarios) {
        md.push(
          `| ${s.server}-${
            s.runtime ?? "deno"
          } | ${s.protocol} | ${s.transport} | ${s.requested} | ${s.opened} | ${s.receiving} | ${
            s.fetchWhileOpenMs ?? "blocked"
          } |`,
        );
      }
      const h1 = b.scenarios.find((s) => s.protocol === "http/1.1" && s.transport === "sse");
      const h2 = b.scenarios.find((s) => s.protocol === "h2" && s.transport === "sse");
      const ws = b.scenarios.find((s) => s.transport === "ws");
      md.push("");
      if (h1) {
        md.push(
          `Over HTTP/1.1 only ${h1.receiving} of ${h1.requested} EventSource streams are live at once (Chromium's 6 connections per host), and any other request to the origin waits behind them.`,
        );
      }
      if (ws) {
        md.push(
          `WebSockets are not bound by that pool: ${ws.receiving} of ${ws.requested} stream at once.`,
        );
      }
      if (h2) {
        md.push(
          `Over HTTP/2 (TLS, self-signed certificate made at run time) ${h2.receiving} of ${h2.requested} SSE streams are live: HTTP/2 multiplexes them on one connection, so the per-domain limit is an HTTP/1.1 limit, not an SSE one.`,
        );
      }
      md.push("");
    }
  }
  md.push(
    "## Reproduce",
    "",
    "```sh",
    "deno task bench:report            # this report (bun bench/report.ts: the same with Bun clients)",
    "deno run -A bench/latency.ts --servers ours-deno,raw-deno,ours-bun,raw-bun   # latency only",
    "deno run -A bench/load.ts --levels 100,1000,5000,10000 --server-runtime both",
    "deno run -A bench/browser.ts",
    "bun bench/latency_mitata.ts && bun bench/load_gen.ts --url http://127.0.0.1:8000 --transport ws --connections 1000",
    "```",
    "",
  );
  files.set(`${baseName}.md`, md.join("\n"));
  return files;
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

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.main) {
  const start = performance.now();
  const log = (line: string) =>
    console.error(
      `[${((performance.now() - start) / 1000).toFixed(0).padStart(4)} s] ${line}`,
    );
  const from = argValue("from");
  if (from) {
    // Re-render a report from its JSON (e.g. after a wording change).
    const { readFileSync } = await import("node:fs");
    const saved = JSON.parse(readFileSync(from, "utf8")) as SuiteResult;
    const dir = argValue("out") ?? join(ROOT, "bench", "results");
    for (const p of writeReport(saved, dir)) log(`wrote ${p}`);
    process.exit(0);
  }
  const client = argValue("load-client");
  const levels = argValue("levels");
  const servers = argValue("servers");
  const result = await runSuite({
    smoke: process.argv.includes("--smoke"),
    skipLoad: process.argv.includes("--skip-load"),
    skipBrowser: process.argv.includes("--skip-browser"),
    skipLatency: process.argv.includes("--skip-latency"),
    loadClient: client === "bun" || client === "deno" ? client : undefined,
    servers: servers ? parseServers(servers) : undefined,
    loadServerRuntimes: parseServerRuntimes(argValue("load-server-runtime")),
    levels: levels ? levels.split(",").map(Number) : undefined,
    log,
  });
  const dir = argValue("out") ?? join(ROOT, "bench", "results");
  for (const p of writeReport(result, dir)) log(`wrote ${p}`);
  process.exit(0);
}
