/**
 * The latency sections of the report (headline, burst, paced, notes) and
 * their two percentile charts.
 * @module
 */
import { TRANSPORTS } from "../lib/clients.ts";
import type { LatencyCell, LatencyReport } from "../lib/latency.ts";
import { ALL_SERVERS } from "../lib/launch.ts";
import type { LoadLevel } from "../load.ts";
import { percentileChart } from "../charts.ts";
import { cellServer, cellsOf, fx, overheadRuntimes, pct, table } from "./format.ts";
import { type Mode, ratio, stat, type StatName } from "./ratios.ts";
import { headline } from "./targets.ts";

/** The per-cell table of a mode. */
function latencyTable(cells: LatencyCell[]): string[] {
  return table({
    header: [
      "server",
      "transport",
      "answers",
      "errors",
      "TTFC p50 / p95 / p99",
      "one-way per chunk p50 / p95 / p99",
      "TTLC p50 / p95 / p99",
    ],
    align: ["l", "l", "r", "r", "l", "l", "l"],
    rows: cells.map((c) => [
      cellServer(c),
      c.transport,
      String(c.samples),
      String(c.errors),
      pct(c.ttfc),
      pct(c.oneWay),
      pct(c.ttlc),
    ]),
  });
}

/** Rows of ours/raw ratios per (runtime, transport) for the given statistics. */
function overheadRows(lat: LatencyReport, q: { mode: Mode; stats: StatName[] }): string[][] {
  const { mode, stats } = q;
  const transports = TRANSPORTS.filter((t) => lat.cells.some((c) => c.transport === t));
  return overheadRuntimes(lat).flatMap((rt) =>
    transports.map((
      t,
    ) => [
      rt,
      t,
      ...stats.map((s) => fx(ratio(lat, { mode, transport: t, pick: stat(s), runtime: rt }))),
    ])
  );
}

const DEFINITIONS =
  "TTFC = query sent (or, for a new connection, connect started) → first content frame; " +
  "one-way = receive time − the server's `ts` in each frame (same machine, both clocks are `performance.timeOrigin + performance.now()`); " +
  "TTLC = query sent → last content frame. All in ms.";

/** Headline (targets) and the definitions of the measures. */
export function headlineSection(lat: LatencyReport, loadLevels: LoadLevel[]): string[] {
  return ["## Headline", "", ...headline({ lat, loadLevels }), "", DEFINITIONS, ""];
}

/** The burst section: table, overhead ratios, chart. */
export function burstSection(lat: LatencyReport, baseName: string): string[] {
  return [
    `## Latency: burst (${lat.burst.chunks} chunks × ${lat.burst.chunkBytes} B back to back)`,
    "",
    "Every combination sampled round-robin in a shuffled order each round.",
    "",
    ...latencyTable(cellsOf(lat, "burst")),
    "",
    "### Overhead against the raw baseline (ours / raw, same runtime)",
    "",
    ...table({
      header: ["runtime", "transport", "TTFC p50", "one-way p50", "TTLC p50", "TTLC p95"],
      align: ["l", "l", "r", "r", "r", "r"],
      rows: overheadRows(lat, {
        mode: "burst",
        stats: ["ttfc.p50", "oneWay.p50", "ttlc.p50", "ttlc.p95"],
      }),
    }),
    "",
    `![burst TTLC](${baseName}-burst-ttlc.svg)`,
    "",
  ];
}

/** The paced section: table, overhead ratios, chart. */
export function pacedSection(lat: LatencyReport, baseName: string): string[] {
  return [
    `## Latency: paced (${lat.paced.chunks} chunks, one every ${lat.paced.intervalMs} ms, LLM-like)`,
    "",
    "All combinations run concurrently, each answer after the other.",
    "",
    ...latencyTable(cellsOf(lat, "paced")),
    "",
    ...table({
      header: [
        "runtime",
        "transport",
        "ours/raw one-way p50",
        "ours/raw one-way p99",
        "ours/raw TTFC p50",
      ],
      align: ["l", "l", "r", "r", "r"],
      rows: overheadRows(lat, { mode: "paced", stats: ["oneWay.p50", "oneWay.p99", "ttfc.p50"] }),
    }),
    "",
    `![paced one-way](${baseName}-paced-oneway.svg)`,
    "",
  ];
}

/** Skipped servers and transports, and the first error of each failing cell. */
export function latencyNotes(lat: LatencyReport): string[] {
  return [
    ...lat.skipped.map((s) => `- skipped: ${s}`),
    ...lat.cells.filter((c) => c.errors).map((c) =>
      `- ${c.mode} ${cellServer(c)} ${c.transport}: ${c.errors} errors, first: ${c.firstError}`
    ),
  ];
}

/** The burst TTLC and paced one-way charts, file name → SVG. */
export function latencyCharts(lat: LatencyReport, baseName: string): [string, string][] {
  const group = (c: LatencyCell) =>
    Math.max(0, (ALL_SERVERS as readonly string[]).indexOf(cellServer(c)));
  const bars = (mode: Mode, pick: (c: LatencyCell) => LatencyCell["ttlc"]) =>
    cellsOf(lat, mode).map((c) => ({
      label: `${cellServer(c)} ${c.transport}`,
      stats: pick(c),
      group: group(c),
    }));
  return [
    [
      `${baseName}-burst-ttlc.svg`,
      percentileChart(
        `Time to last chunk, ${lat.burst.chunks}-chunk burst`,
        "ms",
        bars("burst", (c) => c.ttlc),
      ),
    ],
    [
      `${baseName}-paced-oneway.svg`,
      percentileChart(
        `One-way per-chunk latency, paced (${lat.paced.intervalMs} ms)`,
        "ms",
        bars("paced", (c) => c.oneWay),
      ),
    ],
  ];
}
