/**
 * `deno bench` groups: time to last chunk of one answer on every server under
 * test (`ours-deno`, `raw-deno`, `ours-bun`, `raw-bun`; `raw-deno` is the
 * group's baseline; the Bun servers are left out when `bun` is not installed),
 * per transport and mode.
 *
 * Run: `deno bench -A bench/latency_bench.ts` (or `deno task bench`).
 * `BENCH_SMOKE=1` shrinks the workload to a few chunks.
 * @module
 */
import process from "node:process";
import {
  ALL_SERVERS,
  availableServers,
  parseServer,
  queryOnce,
  ReusedWs,
  type ServerHandle,
  type Transport,
  transportAvailable,
  TRANSPORTS,
  type Workload,
} from "./common.ts";
import { startServers } from "./latency.ts";

const smoke = process.env.BENCH_SMOKE === "1";
const modes: { name: string; workload: Workload }[] = [
  {
    name: "burst",
    workload: { chunks: smoke ? 20 : 1000, chunkBytes: 16, intervalMs: 0 },
  },
  {
    name: "paced",
    workload: { chunks: smoke ? 3 : 10, chunkBytes: 16, intervalMs: 20 },
  },
];
const picked = availableServers(ALL_SERVERS.map(parseServer));
for (const note of picked.skipped) console.error(`skipped: ${note}`);
const started: ServerHandle[] = [];
globalThis.addEventListener("unload", () => {
  for (const s of started) s.close();
});

for (const mode of modes) {
  const servers = await startServers(picked.servers, mode.workload);
  started.push(...servers);
  for (const transport of TRANSPORTS.filter(transportAvailable)) {
    for (const server of servers) {
      const reused = transport === "ws-reused" ? new ReusedWs(server.url) : undefined;
      await reused?.ready();
      Deno.bench({
        name: `${server.name} ${transport}`,
        group: `${mode.name} ${mode.workload.chunks} chunks, ${transport}`,
        baseline: server.name === "raw-deno",
        n: mode.name === "burst" ? (smoke ? 5 : 200) : (smoke ? 2 : 20),
        warmup: mode.name === "burst" ? (smoke ? 1 : 20) : 1,
        async fn() {
          await queryOnce(transport as Transport, server.url, reused);
        },
      });
    }
  }
}
