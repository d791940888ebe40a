/**
 * A server's CPU by thread, read from `/proc/<pid>/task/<tid>/stat` (user
 * and system time), grouped by what the threads do: the JavaScript thread,
 * the garbage collector's helpers, the JIT compiler, the KV database
 * worker, the rest (I/O, pools, the allocator). Linux only.
 *
 * Portable between Deno and Bun: only `node:` modules.
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";

/** CPU time of one thread group, in ms (or µs per chunk): user and system. */
export interface Times {
  user: number;
  sys: number;
}

/** The thread groups, in report order. */
export const THREAD_GROUPS = [
  "main (JS)",
  "GC helpers",
  "JIT compiler",
  "kv worker",
  "profiler",
  "other threads",
] as const;
/** One of {@link THREAD_GROUPS}. */
export type ThreadGroup = typeof THREAD_GROUPS[number];

/**
 * The group of a thread, by its name (`comm`, at most 15 characters):
 * `main (JS)` (the process's first thread), `GC helpers` (V8's
 * `V8 DefaultWorker`s, which also run background compiles; Bun's
 * `HeapHelper`s and heap collector thread), `JIT compiler` (Bun's
 * `JITWorker`, `JSCWarmUp`), `kv worker` (Deno KV's SQLite thread,
 * `sw-0`), `profiler` (V8's `v8:ProfEvntProc`), else `other threads`
 * (tokio I/O, Bun's pools, `mi-scavenger`).
 */
export function threadGroup(name: string, pid: number, tid: number): ThreadGroup {
  if (tid === pid) return "main (JS)";
  if (/^(V8 |HeapHelper|Heap Helper|.*ollector Thread)/.test(name)) return "GC helpers";
  if (/^(JITWorker|JSCWarmUp)/.test(name)) return "JIT compiler";
  if (/^sw-\d+$/.test(name)) return "kv worker";
  if (name.startsWith("v8:Prof")) return "profiler";
  return "other threads";
}

/** User and system CPU per thread group of process `pid`, in ms (clock ticks of 10 ms). */
export function threadTimes(pid: number): Map<ThreadGroup, Times> {
  const groups = new Map<ThreadGroup, Times>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue; // The thread ended.
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const group = threadGroup(name, pid, Number(tid));
    const times = groups.get(group) ?? { user: 0, sys: 0 };
    times.user += Number(fields[11]) * 10;
    times.sys += Number(fields[12]) * 10;
    groups.set(group, times);
  }
  return groups;
}

/** `after - before`, per group. */
export function timesDifference<G>(after: Map<G, Times>, before: Map<G, Times>): Map<G, Times> {
  const out = new Map<G, Times>();
  for (const [group, t] of after) {
    const b = before.get(group) ?? { user: 0, sys: 0 };
    out.set(group, { user: t.user - b.user, sys: t.sys - b.sys });
  }
  return out;
}
