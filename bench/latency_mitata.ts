/**
 * mitata runner: time to last chunk of one answer on every server under test
 * (`ours-deno`, `raw-deno`, `ours-bun`, `raw-bun`), per transport, with the
 * raw baseline on the bench's own runtime marked `.baseline()`; runs under
 * Deno or Bun (the runtime of the client side; printed first).
 *
 * Run: `deno run -A bench/latency_mitata.ts` or `bun bench/latency_mitata.ts`
 * (`--smoke` for a few chunks, `--json` for mitata's JSON output,
 * `--servers ours-deno,ours-bun` to pick servers; default all four, those
 * whose runtime is not installed skipped with a note). Bun has no
 * `EventSource`, so that transport is skipped there.
 * @module
 */
import process from "node:process";
import { bench, group, run, summary } from "mitata";
import {
  ALL_SERVERS,
  availableServers,
  parseServer,
  parseServers,
  queryOnce,
  ReusedWs,
  RUNTIME,
  RUNTIME_VERSION,
  type ServerHandle,
  transportAvailable,
  TRANSPORTS,
} from "./common.ts";
import { startServers } from "./latency.ts";

const smoke = process.argv.includes("--smoke");
const at = process.argv.indexOf("--servers");
const workload = { chunks: smoke ? 20 : 1000, chunkBytes: 16, intervalMs: 0 };
const picked = availableServers(
  at >= 0 ? parseServers(process.argv[at + 1] ?? "") : ALL_SERVERS.map(parseServer),
);
for (const note of picked.skipped) console.error(`skipped: ${note}`);
const servers: ServerHandle[] = await startServers(picked.servers, workload);
// The baseline: raw on the bench's runtime, else any raw server.
const baseline = servers.find((s) => s.kind === "raw" && s.runtime === RUNTIME) ??
  servers.find((s) => s.kind === "raw");
const sockets: ReusedWs[] = [];
const json = process.argv.includes("--json");

// The header goes to stderr with --json, so stdout stays one JSON document.
(json ? console.error : console.log)(
  `mitata, client runtime ${RUNTIME} ${RUNTIME_VERSION}: ${workload.chunks}-chunk burst, servers ${
    servers.map((s) => s.name).join(", ")
  }${baseline ? `, baseline ${baseline.name}` : ""}`,
);
try {
  for (const transport of TRANSPORTS.filter(transportAvailable)) {
    const reused = new Map<ServerHandle, ReusedWs>();
    if (transport === "ws-reused") {
      for (const s of servers) {
        const ws = new ReusedWs(s.url);
        await ws.ready();
        reused.set(s, ws);
        sockets.push(ws);
      }
    }
    group(`${transport}, ${workload.chunks}-chunk burst, TTLC`, () => {
      summary(() => {
        for (const s of servers) {
          const b = bench(
            `${s.name} ${transport}`,
            () => queryOnce(transport, s.url, reused.get(s)),
          );
          if (s === baseline) b.baseline(true);
        }
      });
    });
  }
  await run(
    json ? { format: { json: { samples: false, debug: false } } } : { colors: false },
  );
} finally {
  for (const ws of sockets) ws.close();
  await Promise.all(servers.map((s) => s.close()));
}
process.exit(0);
