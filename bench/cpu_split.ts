/**
 * Where a server's CPU goes, by thread: runs the CPU workload of the report
 * (concurrent streams of bursts) against each server and splits the
 * server's CPU per delivered chunk over its threads, read from
 * `/proc/<pid>/task/<tid>/stat` (user and system time), grouped by
 * `bench/lib/threads.ts`: the JavaScript thread, the garbage collector's
 * helper threads, the JIT compiler (Bun), the KV database worker, the
 * runtime's I/O threads. With short answers
 * (`--chunks 2`) it shows the cost of an answer rather than of a chunk.
 *
 * Run: `deno run -A bench/cpu_split.ts [--servers ours-deno,raw-deno]
 * [--transport ws|sse] [--connections 100] [--turns 10] [--chunks 200]
 * [--rounds 3]` (Linux only).
 * @module
 */
import process from "node:process";
import { parseFlags } from "./lib/args.ts";
import { parseServers, serverName, type ServerSpec, startServer } from "./lib/launch.ts";
import { sampledLoad } from "./lib/user_measures.ts";
import { threadTimes, type Times, timesDifference } from "./lib/threads.ts";

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
      for (const [group, t] of timesDifference(after, before)) {
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
