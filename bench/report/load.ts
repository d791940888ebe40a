/**
 * The "Concurrent connections" section of the report and its memory and
 * throughput charts.
 * @module
 */
import { lineChart } from "../charts.ts";
import { type Runtime, RUNTIMES } from "../lib/runtime.ts";
import type { LoadLevel, LoadOptions } from "../load.ts";
import { f2, kib, table } from "./format.ts";

/** A load ramp as saved in a report. */
export interface LoadData {
  options: LoadOptions;
  levels: LoadLevel[];
}

const runtimeOf = (l: LoadLevel): Runtime => l.serverRuntime ?? "deno";

/** The paragraph describing the ramp's workload and method. */
function method(load: LoadData): string {
  const o = load.options;
  const w = o.workload;
  const servers = [...new Set(load.levels.map((l) => `${l.server}-${runtimeOf(l)}`))]
    .join(" and ") || "ours-deno";
  return `Server: ${servers} (fresh process per level, \`ulimit -n 20000\`, \`MAX_OPEN_CONNECTIONS\` twice the level's clients: the ramp measures the server, not its connection cap). ` +
    `Each client streams ${o.turns} answers of ${w.chunks} chunks (one every ${w.intervalMs} ms, ${w.chunkBytes} B): ` +
    `WS clients open their socket first (measured idle), then ask ${o.turns} questions on it; SSE clients make one request per answer. ` +
    `Starts are spread over ${o.rampMs} ms. Load generator: \`bench/load_gen.ts\` in a separate **${o.client}** process; its own CPU is reported. ` +
    `Every frame's \`seq\` is checked to be previous+1; an answer counts as ok only with all ${w.chunks} chunks in order. ` +
    `Ideal TTLC ≈ ${(w.chunks - 1) * w.intervalMs} ms; demanded rate = connections × ${
      1000 / w.intervalMs
    } msg/s.`;
}

/** One level's table row. */
function levelRow(l: LoadLevel, intervalMs: number): string[] {
  const x = l.result;
  const head = [`${l.server}-${runtimeOf(l)}`, l.transport, String(l.connections)];
  if (!x) return [...head, `failed: ${l.failure?.slice(0, 120)}`, ...Array(9).fill("")];
  const e = x.errors;
  return [
    ...head,
    `${x.answersOk}/${x.answersExpected}`,
    `${e.connect}/${e.closedEarly}/${e.seq}/${e.lostChunks}/${e.serverError}/${e.timeout}`,
    `${x.messagesPerSec} (${l.connections * 1000 / intervalMs})`,
    `${f2(x.latencyMs.p50)} / ${f2(x.latencyMs.p99)}`,
    x.ttlcMs ? `${f2(x.ttlcMs.p50)} / ${f2(x.ttlcMs.p99)}` : "–",
    String(l.serverCpuPercent),
    String(x.loadGenCpu.percentOfOneCore),
    (l.baseRss / 2 ** 20).toFixed(0),
    kib(l.idleBytesPerConn),
    kib(l.streamingBytesPerConn),
  ];
}

/** The section's Markdown. */
export function loadSection(load: LoadData, baseName: string): string[] {
  return [
    "## Concurrent connections",
    "",
    method(load),
    "",
    ...table({
      header: [
        "server",
        "transport",
        "conns",
        "answers ok",
        "errors (connect/closed/seq/lost/server/timeout)",
        "msg/s, whole window incl. ramp (steady-state demand)",
        "one-way p50 / p99 ms",
        "TTLC p50 / p99 ms",
        "server CPU %",
        "loadgen CPU %",
        "RSS base MiB",
        "KiB/conn idle",
        "KiB/conn streaming",
      ],
      align: ["l", "l", "r", "l", "l", "l", "l", "l", "r", "r", "r", "r", "r"],
      rows: load.levels.map((l) => levelRow(l, load.options.workload.intervalMs)),
    }),
    "",
    "SSE has no idle column: an SSE connection exists only while an answer streams, so between turns it costs the server nothing, where an idle WebSocket keeps its memory.",
    "",
    `![memory per connection](${baseName}-memory.svg)`,
    "",
    `![throughput](${baseName}-throughput.svg)`,
    "",
  ];
}

/** The memory-per-connection and throughput charts, file name → SVG. */
export function loadCharts(load: LoadData, baseName: string): [string, string][] {
  const runtimes = RUNTIMES.filter((rt) => load.levels.some((l) => runtimeOf(l) === rt));
  const suffix = (rt: Runtime) => runtimes.length > 1 ? ` (${rt})` : "";
  const series = (rt: Runtime, t: "ws" | "sse", pick: (l: LoadLevel) => number | undefined) =>
    load.levels.filter((l) => l.transport === t && l.result && runtimeOf(l) === rt)
      .map((l) => [l.connections, pick(l) ?? NaN] as [number, number])
      .filter((p) => Number.isFinite(p[1]));
  const idle = (l: LoadLevel) =>
    l.idleBytesPerConn !== undefined ? l.idleBytesPerConn / 1024 : undefined;
  const streaming = (l: LoadLevel) => l.streamingBytesPerConn / 1024;
  const rate = (l: LoadLevel) => l.result?.messagesPerSec;
  const intervalMs = load.options.workload.intervalMs;
  const memory = lineChart(
    "Server memory per connection",
    { x: "concurrent connections (log)", y: "KiB per connection" },
    runtimes.flatMap((rt) => [
      { name: `WS streaming${suffix(rt)}`, points: series(rt, "ws", streaming) },
      { name: `WS idle${suffix(rt)}`, points: series(rt, "ws", idle) },
      { name: `SSE streaming${suffix(rt)}`, points: series(rt, "sse", streaming) },
    ]),
  );
  const throughput = lineChart(
    "Achieved content frames per second",
    { x: "concurrent connections (log)", y: "messages / s" },
    [
      ...runtimes.flatMap((rt) => [
        { name: `WS${suffix(rt)}`, points: series(rt, "ws", rate) },
        { name: `SSE${suffix(rt)}`, points: series(rt, "sse", rate) },
      ]),
      {
        name: "demanded",
        points: [...new Set(load.levels.map((l) => l.connections))]
          .map((n) => [n, n * 1000 / intervalMs] as [number, number]),
      },
    ],
  );
  return [[`${baseName}-memory.svg`, memory], [`${baseName}-throughput.svg`, throughput]];
}
