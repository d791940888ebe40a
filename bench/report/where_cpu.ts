/**
 * The "where the CPU per chunk goes" section: for ours against raw on each
 * runtime and transport, the server's CPU per delivered chunk by thread
 * group, the JavaScript thread's share by part of the code (samples of the
 * profiled run × the thread's CPU per chunk), and a generated conclusion
 * naming the parts that make the difference.
 * @module
 */
import { ALL_PARTS, CODE_PARTS } from "../lib/cpu_profile.ts";
import { THREAD_GROUPS, type Times } from "../lib/threads.ts";
import type { WhereCpuPair, WhereCpuReport, WhereCpuSide } from "../lib/where_cpu.ts";
import type { Runtime } from "../lib/runtime.ts";
import { f2, RUNTIME_NAME, table } from "./format.ts";

const MAIN = "main (JS)";
const TRANSPORT_NAME = { ws: "WebSocket", sse: "SSE" } as const;

const sum = (t: Times | undefined) => t ? t.user + t.sys : 0;

/** CPU per chunk of a thread group, µs. */
function groupUs(side: WhereCpuSide, group: string): number {
  return sum(side.threads[group as keyof WhereCpuSide["threads"]]);
}

/** The side's whole CPU per chunk, µs. */
function totalUs(side: WhereCpuSide): number {
  return Object.values(side.threads).reduce((a, t) => a + sum(t), 0);
}

/** Non-idle samples of the JavaScript thread. */
function sampleCount(side: WhereCpuSide): number {
  return Object.values(side.samples).reduce((a, b) => a + b, 0);
}

/** The part of the JavaScript thread's time that is not in the samples. */
export const UNSAMPLED = "not in the samples";

/**
 * The share of the JavaScript thread's CPU the samples stand for: V8
 * (Deno) samples the thread whatever it runs (`(program)`, `(garbage
 * collector)`), so 1; JSC (Bun) samples only while JavaScript runs, so
 * the samples' time per chunk (each sample standing for the median
 * interval between samples) over the plain run's CPU per chunk, at most 1.
 */
export function sampledShare(side: WhereCpuSide, runtime: Runtime): number {
  const main = groupUs(side, MAIN);
  if (runtime === "deno" || !side.sampleIntervalUs || !side.profiledChunks || !main) return 1;
  const sampledUs = (sampleCount(side) * side.sampleIntervalUs) / side.profiledChunks;
  return Math.min(1, sampledUs / main);
}

/**
 * A part's µs per chunk: its share of the samples × the share of the
 * thread they stand for × the JavaScript thread's CPU per chunk;
 * {@link UNSAMPLED} is the rest of the thread's CPU.
 */
export function partUs(side: WhereCpuSide, part: string, runtime: Runtime): number {
  const n = sampleCount(side);
  const main = groupUs(side, MAIN);
  const share = sampledShare(side, runtime);
  if (part === UNSAMPLED) return n ? (1 - share) * main : 0;
  return n ? ((side.samples[part] ?? 0) / n) * share * main : 0;
}

/** Every part of a pair's table, the unsampled time last. */
const PARTS = [...ALL_PARTS, UNSAMPLED];

/** `+0.25` / `-0.10`. */
const signed = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(2)}`;

/** One thing that costs ours more (or less) than raw, µs per chunk. */
interface Delta {
  name: string;
  ours: number;
  raw: number;
}

/** Thread groups (the JavaScript thread split by part) with ours' and raw's µs per chunk. */
function deltas(pair: WhereCpuPair): Delta[] {
  const groups = THREAD_GROUPS.filter((g) => g !== MAIN)
    .map((g) => ({
      name: `${g} (thread)`,
      ours: groupUs(pair.ours, g),
      raw: groupUs(pair.raw, g),
    }));
  const parts = PARTS.map((p) => ({
    name: p,
    ours: partUs(pair.ours, p, pair.runtime),
    raw: partUs(pair.raw, p, pair.runtime),
  }));
  return [...parts, ...groups];
}

/**
 * The generated conclusion: ours' and raw's CPU per chunk, then what makes
 * the difference, largest first (everything at least 0.02 µs per chunk).
 */
export function whereConclusion(pair: WhereCpuPair): string {
  const ours = totalUs(pair.ours);
  const raw = totalUs(pair.raw);
  const more = deltas(pair).filter((d) => d.ours - d.raw >= 0.02)
    .sort((a, b) => (b.ours - b.raw) - (a.ours - a.raw))
    .map((d) =>
      `${d.name} ${signed(d.ours - d.raw)}${d.raw < 0.005 ? ` (${pair.raw.server} has none)` : ""}`
    );
  const less = deltas(pair).filter((d) => d.raw - d.ours >= 0.02)
    .map((d) => `${d.name} ${signed(d.ours - d.raw)}`);
  return `**Where the difference goes.** ${pair.ours.server} ${
    f2(ours)
  } µs per chunk, ${pair.raw.server} ${f2(raw)} (${signed(ours - raw)}${
    raw > 0 ? `, ${(ours / raw).toFixed(2)}×` : ""
  }): ${more.join(", ") || "nothing above 0.02 µs"}${
    less.length ? `; less than ${pair.raw.server}: ${less.join(", ")}` : ""
  }.`;
}

/** The thread group table of a pair. */
function threadTable(pair: WhereCpuPair): string[] {
  const { ours, raw } = pair;
  const rows = THREAD_GROUPS.filter((g) => groupUs(ours, g) > 0 || groupUs(raw, g) > 0)
    .map((
      g,
    ) => [
      g,
      f2(groupUs(ours, g)),
      f2(groupUs(raw, g)),
      signed(groupUs(ours, g) - groupUs(raw, g)),
    ]);
  rows.push([
    "**all**",
    `**${f2(totalUs(ours))}**`,
    `**${f2(totalUs(raw))}**`,
    `**${signed(totalUs(ours) - totalUs(raw))}**`,
  ]);
  return table({
    header: ["thread group (µs/chunk, user+sys)", ours.server, raw.server, "difference"],
    align: ["l", "r", "r", "r"],
    rows,
  });
}

/** A part's cell: µs per chunk and share of the JavaScript thread, `0.31 (22%)`. */
function partCell(side: WhereCpuSide, part: string, runtime: Runtime): string {
  const us = partUs(side, part, runtime);
  const main = groupUs(side, MAIN);
  return `${f2(us)} (${(main ? (100 * us) / main : 0).toFixed(0)}%)`;
}

const DOES: Record<string, string> = {
  ...Object.fromEntries(CODE_PARTS.map((p) => [p.part, p.does])),
  GC: "V8's collector on the JavaScript thread (Bun's does not show in its samples)",
  "runtime / other": "event loop and runtime code with none of the parts on the stack",
  [UNSAMPLED]:
    "Bun's profiler samples only while JavaScript runs: the uWS event loop, the kernel's share of the writes",
};

/** The part table of a pair. */
function partTable(pair: WhereCpuPair): string[] {
  const { ours, raw } = pair;
  const rt = pair.runtime;
  const rows = PARTS.filter((p) => partUs(ours, p, rt) + partUs(raw, p, rt) >= 0.005)
    .map((p) => [
      p,
      partCell(ours, p, rt),
      partCell(raw, p, rt),
      signed(partUs(ours, p, rt) - partUs(raw, p, rt)),
      DOES[p],
    ]);
  return table({
    header: [
      "part of the JavaScript thread (µs/chunk, share of the thread)",
      ours.server,
      raw.server,
      "difference",
      "what it does",
    ],
    align: ["l", "r", "r", "r", "l"],
    rows,
  });
}

/** Samples, their interval and the share of the thread they stand for. */
function coverage(side: WhereCpuSide, runtime: Runtime): string {
  return `${side.server} ${sampleCount(side)} samples, one per ${
    side.sampleIntervalUs.toFixed(0)
  } µs (median), standing for ${(100 * sampledShare(side, runtime)).toFixed(0)}% of the thread`;
}

/** One pair: heading, the two tables, the conclusion. */
function pairBlock(pair: WhereCpuPair): string[] {
  return [
    `### ${RUNTIME_NAME[pair.runtime]}, ${TRANSPORT_NAME[pair.transport]}`,
    "",
    ...threadTable(pair),
    "",
    ...partTable(pair),
    "",
    `Profiled load: ${coverage(pair.ours, pair.runtime)}; ${coverage(pair.raw, pair.runtime)}.`,
    "",
    whereConclusion(pair),
    "",
  ];
}

/** The section (nothing when the report has no such run). */
export function whereCpuSection(r: WhereCpuReport | undefined): string[] {
  if (!r) return [];
  const o = r.options;
  return [
    "## Where the CPU per chunk goes",
    "",
    `Ours against raw on each runtime, on the CPU measure's workload: ${o.connections} concurrent streams × ${o.turns} answers of ${o.chunks} 16-byte chunks, each server started twice. ` +
    "The plain run gives the server's CPU per delivered chunk by thread group (`/proc/<pid>/task/*/stat`, 10 ms ticks; groups in `bench/lib/threads.ts`). " +
    `The profiled run (\`--cpu-prof\`, one sample per ${o.intervalUs} µs; only the load's own samples are kept, idle excluded) splits the JavaScript thread by part of the code: ` +
    "each sample goes to the innermost frame of its stack that belongs to a part (`CODE_PARTS` in `bench/lib/cpu_profile.ts`; a native helper counts for its caller), " +
    "and a part's µs per chunk is its share of the samples × the JavaScript thread's CPU per chunk of the plain run; " +
    'on Bun, whose profiler samples only while JavaScript runs, the samples stand for their own time (count × median interval) and the rest of the thread is shown as "not in the samples". ' +
    "One run each: the machine is shared, read differences of a few hundredths of a µs as noise.",
    "",
    ...r.pairs.flatMap(pairBlock),
    ...(r.skipped.length ? [`Skipped: ${r.skipped.join("; ")}.`, ""] : []),
  ];
}
