/**
 * mitata runner: time to last chunk of one answer, our server against the
 * raw baseline (marked `.baseline()`), per transport, under Deno or Bun.
 *
 * Run: `deno run -A bench/latency_mitata.ts` or `bun bench/latency_mitata.ts`
 * (`--smoke` for a few chunks, `--json` for mitata's JSON output).
 * Under Bun the raw baseline runs on `Bun.serve`; our server always runs on
 * Deno (`main.ts`) until a Bun entry exists. Bun has no `EventSource`, so
 * that transport is skipped there.
 * @module
 */
import process from "node:process";
import { bench, group, run, summary } from "mitata";
import {
  queryOnce,
  ReusedWs,
  RUNTIME,
  RUNTIME_VERSION,
  type ServerHandle,
  type ServerKind,
  startServer,
  transportAvailable,
  TRANSPORTS,
} from "./common.ts";
import { oursAvailable } from "./latency.ts";

const smoke = process.argv.includes("--smoke");
const workload = { chunks: smoke ? 20 : 1000, chunkBytes: 16, intervalMs: 0 };
const kinds: ServerKind[] = oursAvailable() ? ["raw", "ours"] : ["raw"];
const servers: ServerHandle[] = await Promise.all(
  kinds.map((k) => startServer(k, workload)),
);
const sockets: ReusedWs[] = [];

console.error(
  `mitata under ${RUNTIME} ${RUNTIME_VERSION}: ${workload.chunks}-chunk burst, servers ${
    kinds.join(", ")
  }`,
);
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
          `${s.kind} ${transport}`,
          () => queryOnce(transport, s.url, reused.get(s)),
        );
        if (s.kind === "raw") b.baseline(true);
      }
    });
  });
}
try {
  await run(
    process.argv.includes("--json")
      ? { format: { json: { samples: false, debug: false } } }
      : { colors: false },
  );
} finally {
  for (const ws of sockets) ws.close();
  await Promise.all(servers.map((s) => s.close()));
}
process.exit(0);
