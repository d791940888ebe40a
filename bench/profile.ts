/**
 * CPU profile of our server under the burst workload: starts `main.ts` with
 * `--cpu-prof`, runs answers with one client, stops the server (which writes
 * the profile) and prints the functions with the most self time
 * (grouped by function and file), so the overhead against the raw baseline
 * can be attributed.
 *
 * Run: `deno run -A bench/profile.ts [--transport ws-reused|sse-fetch]
 * [--answers 200] [--chunks 1000] [--server ours|raw] [--connections 100]`
 * (with `--connections`: that many concurrent streams, `--answers` each).
 * @module
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseFlags } from "./lib/args.ts";
import type { Transport } from "./lib/clients.ts";
import { type ServerKind, startServer } from "./lib/launch.ts";
import { LatencyTarget } from "./lib/latency.ts";
import { runLoad } from "./load_gen.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function, in percent of all samples, highest first. */
export function selfTime(
  profile: Profile,
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

/** Reads the one `.cpuprofile` a server wrote into `dir` when it exited. */
function readProfile(dir: string): Profile {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`Cannot read CPU profile: none written in "${dir}"`);
  return JSON.parse(readFileSync(join(dir, file), "utf8"));
}

if (import.meta.main) {
  const args = parseFlags({
    transport: "string",
    answers: "string",
    server: "string",
    chunks: "string",
    connections: "string",
  });
  const transport = (args.transport ?? "ws-reused") as Transport;
  const answers = Number(args.answers ?? "200");
  const chunks = Number(args.chunks ?? "1000");
  const kind = (args.server ?? "ours") as ServerKind;
  // With --connections: that many concurrent streams (ws or sse), `answers` each.
  const connections = args.connections ? Number(args.connections) : undefined;
  // `--cpu-prof` (not `--inspect`: its network inspection of every WebSocket
  // frame would dominate the profile); the profile is written on exit.
  const dir = mkdtempSync(join(tmpdir(), "cpu-prof-"));
  const server = await startServer(kind, { chunks, chunkBytes: 16, intervalMs: 0 }, {
    denoFlags: ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=100"],
  });
  try {
    if (connections) {
      await runLoad({
        url: server.url,
        transport: transport.startsWith("sse") ? "sse" : "ws",
        connections,
        turns: answers,
        chunks,
        idleMs: 0,
        rampMs: 0,
        timeoutMs: 300_000,
      });
    } else {
      const target = await LatencyTarget.open(server, transport);
      for (let i = 0; i < answers; i++) await target.query();
      target.close();
    }
  } finally {
    await server.close();
  }
  const profile = readProfile(dir);
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `CPU profile of ${kind} (${transport}, ${
      connections ?? 1
    } × ${answers} × ${chunks}-chunk bursts, whole process), self time:`,
  );
  for (const row of selfTime(profile).slice(0, 30)) {
    console.log(`${row.percent.toFixed(1).padStart(5)}%  ${row.name}`);
  }
  process.exit(0);
}
