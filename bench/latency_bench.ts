/**
 * `deno bench` groups: time to last chunk of one answer on every server under
 * test (`ours-deno`, `raw-deno`, `ours-bun`, `raw-bun`; `raw-deno` is the
 * group's baseline; the Bun servers are left out when `bun` is not installed),
 * per transport and mode, on the targets of `bench/lib/latency.ts`.
 *
 * Run: `deno bench -A bench/latency_bench.ts` (or `deno task bench`).
 * `BENCH_SMOKE=1` shrinks the workload to a few chunks.
 * @module
 */
import process from "node:process";
import type { ServerHandle } from "./lib/launch.ts";
import { startServers } from "./lib/launch.ts";
import {
  FULL_LATENCY,
  openTargets,
  SMOKE_LATENCY,
  usableServers,
  usableTransports,
} from "./lib/latency.ts";

const smoke = process.env.BENCH_SMOKE === "1";
const burst = (smoke ? SMOKE_LATENCY : FULL_LATENCY).burst;
const modes = [
  { name: "burst", workload: burst, n: smoke ? 5 : 200, warmup: smoke ? 1 : 20 },
  {
    name: "paced",
    workload: { chunks: smoke ? 3 : 10, chunkBytes: 16, intervalMs: 20 },
    n: smoke ? 2 : 20,
    warmup: 1,
  },
];
const specs = usableServers(undefined, { log: (l) => console.error(l) });
const transports = usableTransports();
const started: ServerHandle[] = [];
globalThis.addEventListener("unload", () => {
  for (const s of started) s.close();
});

for (const mode of modes) {
  const servers = await startServers(specs, mode.workload);
  started.push(...servers);
  const targets = await openTargets(servers, transports);
  for (const transport of transports) {
    for (const target of targets.filter((t) => t.transport === transport)) {
      Deno.bench({
        name: target.name,
        group: `${mode.name} ${mode.workload.chunks} chunks, ${transport}`,
        baseline: target.server.name === "raw-deno",
        n: mode.n,
        warmup: mode.warmup,
        async fn() {
          await target.query();
        },
      });
    }
  }
}
