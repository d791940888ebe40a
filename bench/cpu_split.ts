/**
 * Where a server's CPU goes, by thread: runs the CPU workload of the report
 * (concurrent streams of bursts) against each server and splits the
 * server's CPU per delivered chunk over its threads, read from
 * `/proc/<pid>/task/<tid>/stat` (user and system time): the JavaScript
 * thread, the garbage collector's helper threads (V8's parallel
 * scavenges and concurrent marking), the KV database worker, the runtime's I/O threads. With short answers
 * (`--chunks 2`) it shows the cost of an answer rather than of a chunk.
 *
 * Run: `deno run -A bench/cpu_split.ts [--servers ours-deno,raw-deno]
 * [--transport ws|sse] [--connections 100] [--turns 10] [--chunks 200]
 * [--rounds 3]` (Linux only).
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { parseFlags } from "./lib/args.ts";
import { parseServers, serverName, type ServerSpec, startServer } from "./lib/launch.ts";
import { sampledLoad } from "./lib/user_measures.ts";

/** CPU time of one thread group, in ms: user and system. */
interface Times {
  user: number;
  sys: number;
}

/**
 * The group a thread belongs to, by its name: `main` (the JavaScript
 * thread), `GC helpers`, `kv worker` (Deno KV's
 * SQLite thread, `sw-0`), else `other` (I/O and runtime threads).
 */
export function threadGroup(name: string, pid: number, tid: number): string {
  if (tid === pid) return "main (JS)";
  if (name.startsWith("V8 ") || name.startsWith("HeapHelper") || name.startsWith("JITWorker")) {
    return "GC helpers";
  }
  if (/^sw-\d+$/.test(name)) return "kv worker";
  return "other threads";
}

/** User and system CPU per thread group of process `pid`, in ms (clock ticks of 10 ms). */
function threadTimes(pid: number): Map<string, Times> {
  const groups = new Map<string, Times>();
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
function difference(after: Map<string, Times>, before: Map<string, Times>): Map<string, Times> {
  const out = new Map<string, Times>();
  for (const [group, t] of after) {
    const b = before.get(group) ?? { user: 0, sys: 0 };
    out.set(group, { user: t.user - b.user, sys: t.sys - b.sys });
  }
  return out;
}

/** Runs the workload `rounds` times on `spec`; CPU per chunk (µs) per group, summed over rounds. */
async function split(
  spec: ServerSpec,
  opts: {
    transport: "ws" | "sse";
    connections: number;
    turns: number;
    chunks: number;
    rounds: number;
  },
): Promise<{ perChunk: Map<string, Times>; chunks: number }> {
  const server = await startServer(spec.kind, {
    chunks: opts.chunks,
    chunkBytes: 16,
    intervalMs: 0,
  }, { runtime: spec.runtime });
  const { rounds, ...workload } = opts;
  const total = new Map<string, Times>();
  let chunks = 0;
  try {
    // Warm-up: the JIT and the first sessions.
    await sampledLoad(server.url, { ...workload, turns: 2 }, () => 0);
    for (let round = 0; round < rounds; round++) {
      const { before, after, result } = await sampledLoad(
        server.url,
        workload,
        () => threadTimes(server.pid),
      );
      if (result.answersOk !== result.answersExpected) {
        throw new Error(
          `Cannot measure ${
            serverName(spec)
          }: ${result.answersOk}/${result.answersExpected} answers ok`,
        );
      }
      chunks += result.messages;
      for (const [group, t] of difference(after, before)) {
        const sum = total.get(group) ?? { user: 0, sys: 0 };
        total.set(group, { user: sum.user + t.user, sys: sum.sys + t.sys });
      }
    }
  } finally {
    await server.close();
  }
  const perChunk = new Map<string, Times>();
  for (const [group, t] of total) {
    perChunk.set(group, { user: (t.user * 1000) / chunks, sys: (t.sys * 1000) / chunks });
  }
  return { perChunk, chunks };
}

if (import.meta.main) {
  const args = parseFlags({
    servers: "string",
    transport: "string",
    connections: "string",
    turns: "string",
    chunks: "string",
    rounds: "string",
  });
  const transport = args.transport === "sse" ? "sse" : "ws";
  const opts = {
    transport,
    connections: Number(args.connections ?? "100"),
    turns: Number(args.turns ?? "10"),
    chunks: Number(args.chunks ?? "200"),
    rounds: Number(args.rounds ?? "3"),
  } as const;
  const specs = parseServers(args.servers ?? "ours-deno,raw-deno");
  console.log(
    `Server CPU per delivered chunk by thread (µs, user + sys), ${transport}: ${opts.connections} streams × ${opts.turns} answers × ${opts.chunks} chunks, ${opts.rounds} rounds`,
  );
  console.log("| server | thread group | user | sys | total |\n| --- | --- | ---: | ---: | ---: |");
  for (const spec of specs) {
    const { perChunk } = await split(spec, opts);
    let all = 0;
    const rows = [...perChunk]
      .sort((a, b) => b[1].user + b[1].sys - (a[1].user + a[1].sys));
    for (const [group, t] of rows) {
      all += t.user + t.sys;
      console.log(
        `| ${serverName(spec)} | ${group} | ${t.user.toFixed(2)} | ${t.sys.toFixed(2)} | ${
          (t.user + t.sys).toFixed(2)
        } |`,
      );
    }
    console.log(`| ${serverName(spec)} | **all** | | | **${all.toFixed(2)}** |`);
  }
  process.exit(0);
}
