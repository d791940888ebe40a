/**
 * The "what users feel" section: time to first chunk, server CPU per
 * delivered chunk and idle WebSocket memory of every server (ours, raw, the
 * seed's FastAPI stack), each as median with its min–max over the rounds,
 * and the targets on them (ours / raw ratios of medians, ours
 * against the seed), judged as data like the headline's.
 * @module
 */
import { SEED_NAME } from "../lib/launch.ts";
import type { Spread, UserMeasureReport, UserMeasureRow } from "../lib/user_measures.ts";
import { fx, table } from "./format.ts";

/** A measure of one row, named as data. */
export type UserMeasure =
  | "ttfc.ws-reused"
  | "ttfc.ws-new"
  | "ttfc.sse-fetch"
  | "cpu.ws"
  | "cpu.sse"
  | "idle.ws";

/** The spread of a named measure on a row. */
export function measureOf(row: UserMeasureRow, m: UserMeasure): Spread {
  const [kind, which] = m.split(".");
  if (kind === "ttfc") return row.ttfc[which as "ws-reused" | "ws-new" | "sse-fetch"];
  if (kind === "cpu") return row.cpuPerChunkUs[which as "ws" | "sse"];
  return row.idleWsBytes;
}

/** Label and unit of each measure, in table order. */
const MEASURES: readonly { m: UserMeasure; label: string; digits: number }[] = [
  { m: "ttfc.ws-reused", label: "TTFC p50, reused WS (ms)", digits: 3 },
  { m: "ttfc.ws-new", label: "TTFC p50, new WS per query (ms)", digits: 3 },
  { m: "ttfc.sse-fetch", label: "TTFC p50, SSE (ms)", digits: 3 },
  { m: "cpu.ws", label: "server CPU per chunk, WS (µs)", digits: 2 },
  { m: "cpu.sse", label: "server CPU per chunk, SSE (µs)", digits: 2 },
  { m: "idle.ws", label: "server memory per idle WS (KiB)", digits: 1 },
];

/** How the idle memory of a report was measured. */
function idleMethod(r: UserMeasureReport): string {
  if (!r.idleFresh) return "RSS growth / sockets";
  return "RSS growth / sockets, on a fresh process of the server that first answers one query and opens and closes a batch of sockets; RSS read once it settles: a long-lived process reuses earlier rounds' freed memory and reads mostly noise";
}

/** A judged target: `ours-<rt>` / `raw-<rt>` at most `limit`, or below the seed's stack. */
export interface UserTarget {
  measure: UserMeasure;
  /** `raw`: ours / raw on the same runtime at most `limit`; `seed`: ours below the seed's. */
  against: "raw" | "seed";
  runtime: "deno" | "bun";
  limit: number;
}

/** The targets on these measures. */
export const USER_TARGETS: readonly UserTarget[] = [
  ...(["deno", "bun"] as const).flatMap((runtime) => [
    { measure: "ttfc.ws-reused", against: "raw", runtime, limit: 1.3 } as const,
    { measure: "ttfc.sse-fetch", against: "raw", runtime, limit: 1.3 } as const,
    {
      measure: "cpu.ws",
      against: "raw",
      runtime,
      limit: runtime === "deno" ? 1.15 : 1.3,
    } as const,
    { measure: "cpu.sse", against: "raw", runtime, limit: runtime === "deno" ? 1.5 : 1.3 } as const,
  ]),
  { measure: "ttfc.ws-reused", against: "seed", runtime: "deno", limit: 1 },
  { measure: "ttfc.sse-fetch", against: "seed", runtime: "deno", limit: 1 },
  { measure: "idle.ws", against: "raw", runtime: "deno", limit: 1.1 },
];

/** `median (min–max)` in a measure's unit. */
function cellText(s: Spread | undefined, m: { m: UserMeasure; digits: number }): string {
  if (!s || !s.rounds.length) return "–";
  const k = m.m === "idle.ws" ? 1 / 1024 : 1;
  const n = (x: number) => (x * k).toFixed(m.digits);
  return `${n(s.median)} (${n(s.min)}–${n(s.max)})`;
}

/** The ratio of medians `a / b` of a measure, if both servers ran. */
export function medianRatio(
  r: UserMeasureReport,
  q: { measure: UserMeasure; a: string; b: string },
): number | undefined {
  const a = r.rows.find((x) => x.server === q.a);
  const b = r.rows.find((x) => x.server === q.b);
  if (!a || !b) return undefined;
  const x = measureOf(a, q.measure).median / measureOf(b, q.measure).median;
  return Number.isFinite(x) ? x : undefined;
}

/** A target's row: name, value, verdict (undefined when a side did not run). */
function targetRow(r: UserMeasureReport, t: UserTarget): string[] | undefined {
  const ours = `ours-${t.runtime}`;
  const other = t.against === "seed" ? SEED_NAME : `raw-${t.runtime}`;
  if (!r.rows.some((x) => x.server === ours) || !r.rows.some((x) => x.server === other)) {
    return undefined;
  }
  const label = MEASURES.find((m) => m.m === t.measure)!.label.replace(/ \(.*\)$/, "");
  const name = `${ours} / ${other}, ${label}`;
  const x = medianRatio(r, { measure: t.measure, a: ours, b: other });
  // A zero median (a smoke run's CPU below one clock tick) gives no ratio.
  if (x === undefined) return [name, "–", "not measurable in this run"];
  const met = t.against === "seed" ? x < t.limit : x <= t.limit;
  const limit = t.against === "seed" ? `< 1× (below ${SEED_NAME})` : `≤ ${t.limit}×`;
  return [name, fx(x), `${limit} ${met ? "**met**" : "**missed**"}`];
}

/** The CPU warm-up before the rounds, as the method text names it ("" in reports without one). */
function cpuWarmupText(r: UserMeasureReport): string {
  if (!r.cpuWarmup) return "";
  return ` after ${r.cpuWarmup} unmeasured runs of the CPU workload per (server, transport), so that every server is measured settled (its JIT compilers done)`;
}

/** The section: per-server spread table, then the judged targets. */
export function userSection(r: UserMeasureReport): string[] {
  const servers = r.rows.map((x) => x.server);
  const measures = MEASURES.filter((m) =>
    r.rows.some((row) => measureOf(row, m.m).rounds.length > 0)
  );
  const errors = r.rows.filter((x) => x.errors > 0)
    .map((x) => `${x.server}: ${x.errors} errors (${x.firstError})`);
  return [
    "## What users feel: time to first chunk, CPU per chunk, idle memory",
    "",
    `${r.rounds} rounds${
      cpuWarmupText(r)
    }; in each, every server is visited in a shuffled order: ${r.ttfcSamples} answers per (server, transport) for time to first chunk (the round's p50 kept), ` +
    `then ${r.cpu.connections} concurrent streams × ${r.cpu.turns} answers per transport for CPU (the server process's utime+stime from \`/proc/<pid>/stat\` over the streaming, divided by the content frames delivered: the clients' CPU is not counted), ` +
    `then ${r.idleSockets} idle WebSockets for memory (${
      idleMethod(r)
    }). Answers: ${r.workload.chunks} chunks of ${r.workload.chunkBytes} bytes, no pause. ` +
    "Each cell: median over the rounds (min–max). `seed-python` is `bench/seed_server.py`, the seed's FastAPI + uvicorn stack on Debian's Python.",
    "",
    ...table({
      header: ["measure", ...servers],
      align: ["l", ...servers.map(() => "r" as const)],
      rows: measures.map((m) => [
        m.label,
        ...r.rows.map((row) => cellText(measureOf(row, m.m), m)),
      ]),
    }),
    "",
    ...table({
      header: ["target (ratio of medians, one run)", "value", "target"],
      align: ["l", "r", "l"],
      rows: USER_TARGETS.map((t) => targetRow(r, t)).filter((x): x is string[] => !!x),
    }),
    "",
    ...(r.skipped.length ? [`Skipped: ${r.skipped.join("; ")}.`, ""] : []),
    ...(errors.length ? [`**Errors**: ${errors.join("; ")}.`, ""] : []),
  ];
}
