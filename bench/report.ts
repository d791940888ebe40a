/**
 * Runs the whole suite (latency, concurrent connections, browser limit) and
 * writes `bench/results/<date>-<runtime>.md` and `.json` plus SVG charts,
 * printing progress to stderr as it goes.
 *
 * ```
 * deno run -A bench/report.ts                 # full run (~10 min)
 * deno run -A bench/report.ts --smoke         # seconds, tiny N
 * deno run -A bench/report.ts --load-client bun --out /tmp/x
 * bun bench/report.ts                         # the Bun leg
 * ```
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BrowserReport, FULL_BROWSER, runBrowser, SMOKE_BROWSER } from "./browser.ts";
import { lineChart, percentileChart } from "./charts.ts";
import { ROOT, RUNTIME, RUNTIME_VERSION, type Stats } from "./common.ts";
import {
  FULL_LATENCY,
  type LatencyCell,
  type LatencyReport,
  ratio,
  runLatency,
  SMOKE_LATENCY,
} from "./latency.ts";
import { FULL_LOAD, type LoadLevel, type LoadOptions, runLoadRamp, SMOKE_LOAD } from "./load.ts";

/** Everything a report holds. */
export interface SuiteResult {
  date: string;
  runtime: string;
  runtimeVersion: string;
  machine: { cpus: number; cpuModel: string; memGiB: number; os: string };
  smoke: boolean;
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
  loadClient?: "deno" | "bun";
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
    durationMs: 0,
  };
  if (!opts.skipLatency) {
    log("== latency");
    result.latency = await runLatency({
      ...(opts.smoke ? SMOKE_LATENCY : FULL_LATENCY),
      log,
    });
  }
  if (!opts.skipLoad) {
    log("== concurrent connections");
    const options: LoadOptions = {
      ...(opts.smoke ? SMOKE_LOAD : FULL_LOAD),
      client: opts.loadClient,
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
      `| ${c.server} | ${c.transport} | ${c.samples} | ${c.errors} | ${pct(c.ttfc)} | ${
        pct(c.oneWay)
      } | ${pct(c.ttlc)} |`,
    );
  }
  return lines;
}

/** Builds the Markdown report and chart files; returns name → content. */
export function renderReport(
  r: SuiteResult,
  baseName: string,
): Map<string, string> {
  const files = new Map<string, string>();
  const md: string[] = [];
  md.push(
    `# WebSocket vs SSE benchmark: ${r.date.slice(0, 10)} (${r.runtime})`,
    "",
    `Produced by \`bench/report.ts\` under **${r.runtime} ${r.runtimeVersion}** on ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memGiB} GiB, ${r.machine.os}${
      r.smoke ? " — **smoke run (tiny N, not a measurement)**" : ""
    }. Suite took ${(r.durationMs / 1000).toFixed(0)} s.`,
    "",
    "The machine is shared and noisy: read the ratios (measured side by side in one run), not the absolute milliseconds. " +
      '"ours" is `main.ts` (Hono + zod-validated frames + chat core + a Deno KV write of the session history per answer, KV_PATH=:memory:); ' +
      '"raw" is `bench/raw_server.ts` (plain `Deno.serve` + `Deno.upgradeWebSocket` / plain SSE stream, same frame bytes incl. `ts` and `seq`, no validation, no store).',
    "",
  );
  const lat = r.latency;
  if (lat) {
    const cellsOf = (mode: "burst" | "paced") => lat.cells.filter((c) => c.mode === mode);
    const ttlc50 = (c: LatencyCell) => c.ttlc.p50;
    const ttlc95 = (c: LatencyCell) => c.ttlc.p95;
    md.push("## Headline", "");
    md.push(
      "| measure | value | target |",
      "| --- | --- | --- |",
    );
    const wsR = ratio(lat, "burst", "ws-reused", ttlc50);
    const sseR = ratio(lat, "burst", "sse-fetch", ttlc50);
    md.push(
      `| ours/raw, WS (reused) TTLC p50, ${lat.burst.chunks}-chunk burst | ${fx(wsR)} (p95 ${
        fx(ratio(lat, "burst", "ws-reused", ttlc95))
      }) | ≤ 1.15× ${wsR === undefined ? "" : wsR <= 1.15 ? "**met**" : "**missed**"} |`,
      `| ours/raw, SSE (fetch) TTLC p50, ${lat.burst.chunks}-chunk burst | ${fx(sseR)} (p95 ${
        fx(ratio(lat, "burst", "sse-fetch", ttlc95))
      }) | ≤ 1.15× ${sseR === undefined ? "" : sseR <= 1.15 ? "**met**" : "**missed**"} |`,
    );
    const ws10k = r.load?.levels.find((l) => l.transport === "ws" && l.connections >= 10_000);
    if (ws10k?.result) {
      const e = ws10k.result.errors;
      const lost = e.seq + e.lostChunks + e.closedEarly + e.connect +
        e.timeout + e.serverError;
      md.push(
        `| ${ws10k.connections} concurrent WS streams: answers complete and in order | ${ws10k.result.answersOk}/${ws10k.result.answersExpected}, ${lost} errors | all, 0 lost/reordered ${
          lost === 0 && ws10k.result.answersOk === ws10k.result.answersExpected
            ? "**met**"
            : "**missed**"
        } |`,
      );
    }
    const find = (mode: "burst" | "paced", server: string, t: string) =>
      lat.cells.find((c) => c.mode === mode && c.server === server && c.transport === t);
    const pair = (
      mode: "burst" | "paced",
      a: string,
      b: string,
      pick: (c: LatencyCell) => number,
    ) => {
      const x = find(mode, "ours", a), y = find(mode, "ours", b);
      return x && y && x.samples && y.samples ? pick(x) / pick(y) : undefined;
    };
    md.push(
      `| ours, WS reused / SSE fetch, TTFC p50, burst | ${
        fx(pair("burst", "ws-reused", "sse-fetch", (c) => c.ttfc.p50))
      } | (claim: WS lower latency) |`,
      `| ours, WS new-per-query / SSE fetch, TTFC p50, burst | ${
        fx(pair("burst", "ws-new", "sse-fetch", (c) => c.ttfc.p50))
      } | (claim: WS lower latency) |`,
      `| ours, WS reused / SSE fetch, TTLC p50, burst | ${
        fx(pair("burst", "ws-reused", "sse-fetch", ttlc50))
      } | (claim: WS lower latency) |`,
      `| ours, WS reused / SSE fetch, one-way per-chunk p50, paced | ${
        fx(pair("paced", "ws-reused", "sse-fetch", (c) => c.oneWay.p50))
      } | (claim: WS lower latency) |`,
      "",
    );
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
      "### Overhead against the raw baseline (ours / raw)",
      "",
      "| transport | TTFC p50 | one-way p50 | TTLC p50 | TTLC p95 |",
      "| --- | ---: | ---: | ---: | ---: |",
    );
    for (const t of new Set(lat.cells.map((c) => c.transport))) {
      md.push(
        `| ${t} | ${fx(ratio(lat, "burst", t, (c) => c.ttfc.p50))} | ${
          fx(ratio(lat, "burst", t, (c) => c.oneWay.p50))
        } | ${fx(ratio(lat, "burst", t, ttlc50))} | ${fx(ratio(lat, "burst", t, ttlc95))} |`,
      );
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
      "| transport | ours/raw one-way p50 | ours/raw one-way p99 | ours/raw TTFC p50 |",
      "| --- | ---: | ---: | ---: |",
    );
    for (const t of new Set(lat.cells.map((c) => c.transport))) {
      md.push(
        `| ${t} | ${fx(ratio(lat, "paced", t, (c) => c.oneWay.p50))} | ${
          fx(ratio(lat, "paced", t, (c) => c.oneWay.p99))
        } | ${fx(ratio(lat, "paced", t, (c) => c.ttfc.p50))} |`,
      );
    }
    md.push("", `![paced one-way](${baseName}-paced-oneway.svg)`, "");
    for (const s of lat.skipped) md.push(`- skipped: ${s}`);
    const errs = lat.cells.filter((c) => c.errors);
    for (const c of errs) {
      md.push(
        `- ${c.mode} ${c.server} ${c.transport}: ${c.errors} errors, first: ${c.firstError}`,
      );
    }
    md.push("");
    files.set(
      `${baseName}-burst-ttlc.svg`,
      percentileChart(
        `Time to last chunk, ${lat.burst.chunks}-chunk burst`,
        "ms",
        cellsOf("burst").map((c) => ({
          label: `${c.server} ${c.transport}`,
          stats: c.ttlc,
          group: c.server === "ours" ? 0 : 1,
        })),
      ),
    );
    files.set(
      `${baseName}-paced-oneway.svg`,
      percentileChart(
        `One-way per-chunk latency, paced (${lat.paced.intervalMs} ms)`,
        "ms",
        cellsOf("paced").map((c) => ({
          label: `${c.server} ${c.transport}`,
          stats: c.oneWay,
          group: c.server === "ours" ? 0 : 1,
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
        load.levels[0]?.server ?? "ours"
      } (fresh process per level, \`ulimit -n 20000\`). ` +
        `Each client streams ${o.turns} answers of ${o.workload.chunks} chunks (one every ${o.workload.intervalMs} ms, ${o.workload.chunkBytes} B): ` +
        `WS clients open their socket first (measured idle), then ask ${o.turns} questions on it; SSE clients make one request per answer. ` +
        `Starts are spread over ${o.rampMs} ms. Load generator: \`bench/load_gen.ts\` in a separate **${o.client}** process; its own CPU is reported. ` +
        `Every frame's \`seq\` is checked to be previous+1; an answer counts as ok only with all ${o.workload.chunks} chunks in order. ` +
        `Ideal TTLC ≈ ${
          (o.workload.chunks - 1) * o.workload.intervalMs
        } ms; demanded rate = connections × ${1000 / o.workload.intervalMs} msg/s.`,
      "",
      "| transport | conns | answers ok | errors (connect/closed/seq/lost/server/timeout) | msg/s, whole window incl. ramp (steady-state demand) | one-way p50 / p99 ms | TTLC p50 / p99 ms | server CPU % | loadgen CPU % | RSS base MiB | KiB/conn idle | KiB/conn streaming |",
      "| --- | ---: | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const l of load.levels) {
      const x = l.result;
      if (!x) {
        md.push(
          `| ${l.transport} | ${l.connections} | failed: ${
            l.failure?.slice(0, 120)
          } | | | | | | | | | |`,
        );
        continue;
      }
      const e = x.errors;
      md.push(
        `| ${l.transport} | ${l.connections} | ${x.answersOk}/${x.answersExpected} | ${e.connect}/${e.closedEarly}/${e.seq}/${e.lostChunks}/${e.serverError}/${e.timeout} | ${x.messagesPerSec} (${
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
    const series = (
      t: "ws" | "sse",
      pick: (l: LoadLevel) => number | undefined,
    ) =>
      load.levels.filter((l) => l.transport === t && l.result).map((l) =>
        [l.connections, pick(l) ?? NaN] as [number, number]
      ).filter((p) => Number.isFinite(p[1]));
    files.set(
      `${baseName}-memory.svg`,
      lineChart("Server memory per connection", {
        x: "concurrent connections (log)",
        y: "KiB per connection",
      }, [
        { name: "WS streaming", points: series("ws", (l) => l.streamingBytesPerConn / 1024) },
        {
          name: "WS idle",
          points: series(
            "ws",
            (l) => l.idleBytesPerConn !== undefined ? l.idleBytesPerConn / 1024 : undefined,
          ),
        },
        { name: "SSE streaming", points: series("sse", (l) => l.streamingBytesPerConn / 1024) },
      ]),
    );
    files.set(
      `${baseName}-throughput.svg`,
      lineChart("Achieved content frames per second", {
        x: "concurrent connections (log)",
        y: "messages / s",
      }, [
        { name: "WS", points: series("ws", (l) => l.result?.messagesPerSec) },
        { name: "SSE", points: series("sse", (l) => l.result?.messagesPerSec) },
        {
          name: "demanded",
          points: [...new Set(load.levels.map((l) => l.connections))].map((
            n,
          ) => [n, n * 1000 / o.workload.intervalMs] as [number, number]),
        },
      ]),
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
          `| ${s.server} | ${s.protocol} | ${s.transport} | ${s.requested} | ${s.opened} | ${s.receiving} | ${
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
    "deno task bench:report            # this report",
    "deno run -A bench/latency.ts      # latency only",
    "deno run -A bench/load.ts --levels 100,1000,5000,10000",
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
  const result = await runSuite({
    smoke: process.argv.includes("--smoke"),
    skipLoad: process.argv.includes("--skip-load"),
    skipBrowser: process.argv.includes("--skip-browser"),
    skipLatency: process.argv.includes("--skip-latency"),
    loadClient: client === "bun" || client === "deno" ? client : undefined,
    levels: levels ? levels.split(",").map(Number) : undefined,
    log,
  });
  const dir = argValue("out") ?? join(ROOT, "bench", "results");
  for (const p of writeReport(result, dir)) log(`wrote ${p}`);
  process.exit(0);
}
