/**
 * Latency sampler: the same synthetic workload over four transports against
 * our server and the raw baseline, each on Deno and on Bun (`ours-deno`,
 * `raw-deno`, `ours-bun`, `raw-bun`), measured side by side in one process.
 * The bench process itself (the client side) runs on one runtime for all
 * servers, so server runtimes are compared with the same client.
 *
 * - burst: every combination (server × transport) is sampled round-robin in a
 *   shuffled order each round, so machine noise hits all of them alike;
 * - paced: all combinations run at once (the load is tiny: one chunk per
 *   interval each), each doing its samples one after another.
 *
 * Per answer it records time to first chunk, one-way latency of every chunk
 * (receive time − server `ts`) and time to last chunk. The harness is
 * `bench/lib/latency.ts`.
 *
 * Run: `deno run -A bench/latency.ts [--smoke] [--servers ours-deno,raw-deno]`
 * or `bun bench/latency.ts` (same flags). The default is all four servers;
 * those whose runtime is not installed are skipped with a note.
 * @module
 */
import process from "node:process";
import { parseFlags } from "./lib/args.ts";
import { parseServers } from "./lib/launch.ts";
import { FULL_LATENCY, type LatencyCell, runLatency, SMOKE_LATENCY } from "./lib/latency.ts";
import { RUNTIME } from "./lib/runtime.ts";
import type { Stats } from "./lib/stats.ts";

const f = (n: number) => n.toFixed(2);
const triple = (s: Stats) => `${f(s.p50)}/${f(s.p95)}/${f(s.p99)}`;

/** One table row of a cell. */
function row(c: LatencyCell): string {
  return `${c.mode.padEnd(5)} ${`${c.server}-${c.runtime}`.padEnd(9)} ${c.transport.padEnd(15)} ${
    String(c.samples).padStart(4)
  }  ${triple(c.ttfc)}  ${triple(c.oneWay)}  ${triple(c.ttlc)}${
    c.errors ? `  errors ${c.errors}: ${c.firstError}` : ""
  }`;
}

if (import.meta.main) {
  const args = parseFlags({ smoke: "boolean", servers: "string" });
  const report = await runLatency({
    ...(args.smoke ? SMOKE_LATENCY : FULL_LATENCY),
    servers: args.servers === undefined ? undefined : parseServers(args.servers),
    log: (l) => console.error(l),
  });
  console.log(
    `client: ${RUNTIME}\nmode  server    transport        n   ttfc p50/p95/p99    one-way p50/p95/p99   ttlc p50/p95/p99 (ms)`,
  );
  for (const c of report.cells) console.log(row(c));
  for (const s of report.skipped) console.log(`skipped: ${s}`);
  process.exit(0);
}
