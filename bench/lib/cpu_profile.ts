/**
 * Reads a `.cpuprofile` (what `deno run --cpu-prof` and `bun --cpu-prof`
 * write) and attributes its samples: self time per function, and the
 * samples of a time window split by part of the code through one small
 * table ({@link CODE_PARTS}).
 *
 * Portable between Deno and Bun: only `node:` modules.
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Where a profile node's code is: function name and script URL (empty for native code). */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** A node of the profile's call tree. */
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The parts of a `.cpuprofile` this module reads. */
export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds, on the profiler's clock. */
  startTime: number;
  /** The leaf node of each sample. */
  samples: number[];
  /** Microseconds since the previous sample (the first: since `startTime`). */
  timeDeltas: number[];
}

/** Reads the one `.cpuprofile` a process wrote into `dir` when it exited. */
export function readProfile(dir: string): CpuProfile {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`Cannot read CPU profile: none written in "${dir}"`);
  return JSON.parse(readFileSync(join(dir, file), "utf8"));
}

/** Self time per function, in percent of all samples, highest first. */
export function selfTime(
  profile: CpuProfile,
): { name: string; percent: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  for (const id of profile.samples) {
    const f = byId.get(id)!.callFrame;
    const file = f.url.replace(/^.*\/(node_modules\/\.deno\/|work\/[^/]+\/)/, "")
      .replace(/^file:\/\//, "");
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    totals.set(key, (totals.get(key) ?? 0) + 1);
  }
  const n = profile.samples.length;
  return [...totals].map(([name, c]) => ({ name, percent: (100 * c) / n }))
    .sort((a, b) => b.percent - a.percent);
}

/** A frame pattern: a frame matches when its URL and its function name both match. */
interface FrameRule {
  url?: RegExp;
  name?: RegExp;
}

/** A part of the code: the frames that belong to it, and what it pays for. */
export interface CodePart {
  part: string;
  /** What the part does, for the report. */
  does: string;
  rules: FrameRule[];
}

/** Native code: no script URL. */
const NATIVE = /^$/;
/** Our server's own files (and the raw baseline's). */
const SERVER = /\/server\//;
const RAW = /\/bench\/raw_server\.ts$/;

/**
 * The parts of the code, in the order a frame is tested against them.
 * A sample goes to the part of the innermost frame of its stack that
 * matches a rule; frames matching none (runtime built-ins, native
 * helpers such as `JSON.stringify` or `TextEncoder`) count for their
 * caller. A stack with no matching frame is "runtime / other"; V8's
 * `(garbage collector)` pseudo-frame is "GC".
 */
export const CODE_PARTS: readonly CodePart[] = [
  {
    part: "socket writes",
    does: "hands the frame bytes to the socket (native send, cork, stream sink)",
    rules: [
      {
        url: NATIVE,
        name:
          /^(send|sendText|sendBinary|cork|write|end|enqueue|flush|onReadStreamIntoSinkChunk|op_ws_send_\w+|op_http_\w+)$/,
      },
      { url: /^ext:deno_(websocket|http|net)\// },
      { url: /^ext:deno_web\/06_streams/ },
    ],
  },
  {
    part: "frame encoding",
    does: "writes each frame's JSON text (the `ts` double included)",
    rules: [{ url: /\/server\/encode\.ts$/ }, { url: RAW, name: /^content$/ }],
  },
  {
    part: "history store",
    does: "appends the answer to the session's history (SQLite on Bun, KV on Deno)",
    rules: [{ url: /\/server\/store\// }, { url: /^bun:sqlite/ }, { url: /^ext:deno_kv\// }],
  },
  {
    part: "agent",
    does: "the synthetic agent producing each chunk",
    rules: [{ url: /\/server\/(agents|tools)\// }],
  },
  {
    part: "telemetry",
    does: "answer metrics and traces",
    rules: [{ url: /\/server\/telemetry\// }, { url: /@opentelemetry/ }],
  },
  {
    part: "request handling",
    does: "routing, guards, query parsing and validation",
    rules: [
      { url: /\/(hono|zod)@/ },
      { url: /\/server\/(guards\/|app\.ts|front_door\.ts)|\/protocol\// },
      { url: RAW, name: /^(onQuery|sessionOf|sseResponse|fetch|handler|page|message)$/ },
    ],
  },
  {
    part: "pipeline",
    does: "turn control, producer, delivery, outbox and transports (raw: its loop)",
    rules: [{ url: SERVER }, { url: RAW }],
  },
];

/** Parts a sample can go to besides {@link CODE_PARTS}. */
export const GC_PART = "GC";
export const OTHER_PART = "runtime / other";

/** Every part in report order. */
export const ALL_PARTS: readonly string[] = [
  ...CODE_PARTS.map((p) => p.part),
  GC_PART,
  OTHER_PART,
];

/** The part a frame belongs to, or undefined when it counts for its caller. */
export function framePart(frame: CallFrame): string | undefined {
  if (frame.functionName === "(garbage collector)") return GC_PART;
  for (const { part, rules } of CODE_PARTS) {
    for (const r of rules) {
      if ((!r.url || r.url.test(frame.url)) && (!r.name || r.name.test(frame.functionName))) {
        return part;
      }
    }
  }
  return undefined;
}

/** V8's sample of an idle thread: not CPU time. */
const IDLE = "(idle)";

/** Absolute time of each sample, in µs on the profiler's clock. */
export function sampleTimes(profile: CpuProfile): number[] {
  const times: number[] = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) times.push(t += d);
  return times;
}

/**
 * Samples per part (non-idle samples only) between `from` and `to` µs on
 * the profiler's clock, and the median time between those samples, µs
 * (the time one sample stands for: the profiler's real interval, which
 * can be longer than the one asked for).
 */
export function partsOf(
  profile: CpuProfile,
  window: { from: number; to: number },
): { counts: Map<string, number>; intervalUs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const leafPart = new Map<number, string | null>();
  const partOfLeaf = (leaf: number): string | null => {
    if (!leafPart.has(leaf)) {
      let part: string | null = null;
      if (byId.get(leaf)!.callFrame.functionName !== IDLE) {
        part = OTHER_PART;
        for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
          const p = framePart(byId.get(id)!.callFrame);
          if (p) {
            part = p;
            break;
          }
        }
      }
      leafPart.set(leaf, part);
    }
    return leafPart.get(leaf)!;
  };
  const counts = new Map<string, number>(ALL_PARTS.map((p) => [p, 0]));
  const deltas: number[] = [];
  const times = sampleTimes(profile);
  profile.samples.forEach((leaf, i) => {
    if (times[i] < window.from || times[i] > window.to) return;
    const part = partOfLeaf(leaf);
    if (!part) return;
    counts.set(part, counts.get(part)! + 1);
    deltas.push(profile.timeDeltas[i]);
  });
  deltas.sort((a, b) => a - b);
  return { counts, intervalUs: deltas[Math.floor(deltas.length / 2)] ?? 0 };
}
