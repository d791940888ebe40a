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
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseFlags } from "./lib/args.ts";
import { readProfile, selfTime } from "./lib/cpu_profile.ts";
import type { Transport } from "./lib/clients.ts";
import { type ServerKind, startServer } from "./lib/launch.ts";
import { LatencyTarget } from "./lib/latency.ts";
import { runLoad } from "./load_gen.ts";

export { selfTime };

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
    cpuProfile: { dir, intervalUs: 100 },
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
