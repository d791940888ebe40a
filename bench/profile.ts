/**
 * CPU profile of our server under the burst workload: starts `main.ts` with
 * `--inspect`, records a V8 CPU profile over the inspector protocol while a
 * client runs answers, and prints the functions with the most self time
 * (grouped by function and file), so the overhead against the raw baseline
 * can be attributed.
 *
 * Run: `deno run -A bench/profile.ts [--transport ws-reused|sse-fetch]
 * [--answers 200] [--server ours|raw]`.
 * @module
 */
import process from "node:process";
import { parseFlags } from "./lib/args.ts";
import type { Transport } from "./lib/clients.ts";
import { type ServerKind, startServer } from "./lib/launch.ts";
import { LatencyTarget } from "./lib/latency.ts";

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
    const file = f.url.replace(/^.*\/(node_modules\/\.deno\/|work\/main\/)/, "")
      .replace(/^file:\/\//, "");
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    totals.set(key, (totals.get(key) ?? 0) + 1);
  }
  const n = profile.samples.length;
  return [...totals].map(([name, c]) => ({ name, percent: (100 * c) / n }))
    .sort((a, b) => b.percent - a.percent);
}

if (import.meta.main) {
  const args = parseFlags({ transport: "string", answers: "string", server: "string" });
  const transport = (args.transport ?? "ws-reused") as Transport;
  const answers = Number(args.answers ?? "200");
  const kind = (args.server ?? "ours") as ServerKind;
  const server = await startServer(kind, {
    chunks: 1000,
    chunkBytes: 16,
    intervalMs: 0,
  }, { denoFlags: ["--inspect=127.0.0.1:9339"] });
  try {
    const targets = await (await fetch("http://127.0.0.1:9339/json")).json();
    const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
    await new Promise((r) => (ws.onopen = r));
    let id = 0;
    const pending = new Map<number, (v: unknown) => void>();
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.id && pending.has(m.id)) {
        pending.get(m.id)!(m.result);
        pending.delete(m.id);
      }
    };
    const call = (method: string, params = {}) =>
      new Promise<unknown>((resolve) => {
        pending.set(++id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      });
    await call("Profiler.enable");
    await call("Profiler.setSamplingInterval", { interval: 100 });
    const target = await LatencyTarget.open(server, transport);
    for (let i = 0; i < 20; i++) await target.query();
    await call("Profiler.start");
    for (let i = 0; i < answers; i++) await target.query();
    const { profile } = await call("Profiler.stop") as { profile: Profile };
    target.close();
    ws.close();
    console.log(
      `CPU profile of ${kind} (${transport}, ${answers} × 1000-chunk bursts), self time:`,
    );
    for (const row of selfTime(profile).slice(0, 25)) {
      console.log(`${row.percent.toFixed(1).padStart(5)}%  ${row.name}`);
    }
  } finally {
    await server.close();
  }
  process.exit(0);
}
