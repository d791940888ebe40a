/**
 * The "where the CPU per chunk goes" section: for ours against raw on each
 * runtime and transport, the server's CPU per delivered chunk by thread
 * group, the JavaScript thread's share by part of the code (samples of the
 * profiled run × the thread's CPU per chunk), and a generated conclusion
 * naming the parts that make the difference.
 * @module
 */
import { ALL_PARTS, CODE_PARTS } from "../lib/cpu_profile.ts";
import { THREAD_GROUPS, type ThreadGroup, type Times } from "../lib/threads.ts";
import type { WhereCpuPair, WhereCpuReport, WhereCpuSide } from "../lib/where_cpu.ts";
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

/** A part's µs per chunk: its share of the samples × the JavaScript thread's CPU per chunk. */
export function partUs(side: WhereCpuSide, part: string): number {
  const n = sampleCount(side);
  return n ? ((side.samples[part] ?? 0) / n) * groupUs(side, MAIN) : 0;
}

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
  const parts = ALL_PARTS.map((p) => ({
    name: p,
    ours: partUs(pair.ours, p),
    raw: partUs(pair.raw, p),
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
    .map((g) => [
      g,
      f2(groupUs(ours, g)),
      f2(groupUs(raw, g)),
      signed(groupUs(ours, g) - groupUs(raw, g)),
      THREAD_DOES[g],
    ]);
  rows.push([
    "**all**",
    `**${f2(totalUs(ours))}**`,
    `**${f2(totalUs(raw))}**`,
    `**${signed(totalUs(ours) - totalUs(raw))}**`,
    "",
  ]);
  return pairTable("thread group (µs/chunk, user+sys)", pair, rows);
}

/** A table of one pair: `first` names the rows; then ours, raw, the difference and what each row does. */
function pairTable(first: string, pair: WhereCpuPair, rows: string[][]): string[] {
  return table({
    header: [first, pair.ours.server, pair.raw.server, "difference", "what it does"],
    align: ["l", "r", "r", "r", "l"],
    rows,
  });
}

/** What each thread group does, for the report. */
const THREAD_DOES: Record<ThreadGroup, string> = {
  "main (JS)": "the event loop and all JavaScript: split by part below",
  "GC helpers":
    "the collector's parallel marking of what the JavaScript allocates (V8's also compile)",
  "JIT compiler":
    "JSC compiling hot functions in the background: the more code a chunk runs through, the more to compile",
  "kv worker": "Deno KV's SQLite thread writing the history",
  profiler: "V8's profiler thread (never in the plain run)",
  "other threads": "I/O, thread pools, the allocator's scavenger",
};

/** A part's cell: µs per chunk and share of the JavaScript thread, `0.31 (22%)`. */
function partCell(side: WhereCpuSide, part: string): string {
  const us = partUs(side, part);
  const main = groupUs(side, MAIN);
  return `${f2(us)} (${(main ? (100 * us) / main : 0).toFixed(0)}%)`;
}

const DOES: Record<string, string> = {
  ...Object.fromEntries(CODE_PARTS.map((p) => [p.part, p.does])),
  GC: "V8's collector on the JavaScript thread (Bun's does not show in its samples)",
  "runtime / other": "event loop and runtime code with none of the parts on the stack",
};

/** The part table of a pair. */
function partTable(pair: WhereCpuPair): string[] {
  const { ours, raw } = pair;
  const rows = ALL_PARTS.filter((p) => partUs(ours, p) + partUs(raw, p) >= 0.005)
    .map((p) => [
      p,
      partCell(ours, p),
      partCell(raw, p),
      signed(partUs(ours, p) - partUs(raw, p)),
      DOES[p],
    ]);
  return pairTable("part of the JavaScript thread (µs/chunk, share of the thread)", pair, rows);
}

/** Samples of the profiled load and the profiler's real interval. */
function samplesLine(side: WhereCpuSide): string {
  return `${side.server} ${sampleCount(side)} samples, one per ${
    side.sampleIntervalUs.toFixed(0)
  } µs (median)`;
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
    `Profiled load: ${samplesLine(pair.ours)}; ${samplesLine(pair.raw)}.`,
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
    `Ours against raw on each runtime, on the CPU measure's workload: ${o.connections} concurrent streams × ${o.turns} answers of ${o.chunks} 16-byte chunks. ` +
    `Plain runs, ours and raw side by side after a warm-up of ${o.warmups} × the load per transport (${o.rounds} rounds, in a shuffled order), give the server's CPU per delivered chunk by thread group (\`/proc/<pid>/task/*/stat\`, 10 ms ticks, pooled over the rounds; groups in \`bench/lib/threads.ts\`). ` +
    `Then one profiled run per server (\`--cpu-prof\`, one sample per ${o.intervalUs} µs; only the load's own samples are kept, idle excluded) splits the JavaScript thread by part of the code: ` +
    "each sample goes to the innermost frame of its stack that belongs to a part (`CODE_PARTS` in `bench/lib/cpu_profile.ts`; a native helper counts for its caller), " +
    "and a part's µs per chunk is its share of the samples × the JavaScript thread's CPU per chunk of the plain runs. " +
    "Bun's profiler samples only while JavaScript runs, so there the thread's time outside it (the uWS event loop, the kernel's share of the writes) is spread over the parts in proportion; " +
    "under each table, the samples and the profiler's real interval (longer than the one asked for on a busy machine). " +
    "The machine is shared: read differences of a few hundredths of a µs as noise.",
    "",
    ...r.pairs.flatMap(pairBlock),
    ...(r.skipped.length ? [`Skipped: ${r.skipped.join("; ")}.`, ""] : []),
  ];
}
