/**
 * mitata runner: time to last chunk of one answer on every server under test
 * (`ours-deno`, `raw-deno`, `ours-bun`, `raw-bun`), per transport, with the
 * raw baseline on the bench's own runtime marked `.baseline()`; runs under
 * Deno or Bun (the runtime of the client side; printed first), on the
 * targets of `bench/lib/latency.ts`.
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
import { parseFlags } from "./lib/args.ts";
import { parseServers, type ServerHandle } from "./lib/launch.ts";
import {
  FULL_LATENCY,
  type LatencyTarget,
  SMOKE_LATENCY,
  usableServers,
  usableTransports,
  withTargets,
} from "./lib/latency.ts";
import { RUNTIME, RUNTIME_VERSION } from "./lib/runtime.ts";

/** Registers one mitata group per transport, the baseline server marked. */
function register(targets: LatencyTarget[], baseline: ServerHandle | undefined, chunks: number) {
  for (const transport of usableTransports()) {
    group(`${transport}, ${chunks}-chunk burst, TTLC`, () => {
      summary(() => {
        for (const t of targets.filter((t) => t.transport === transport)) {
          const b = bench(t.name, () => t.query());
          if (t.server === baseline) b.baseline(true);
        }
      });
    });
  }
}

const args = parseFlags({ smoke: "boolean", json: "boolean", servers: "string" });
const workload = (args.smoke ? SMOKE_LATENCY : FULL_LATENCY).burst;
const specs = usableServers(
  args.servers === undefined ? undefined : parseServers(args.servers),
  { log: (l) => console.error(l) },
);
await withTargets({ specs, workload, transports: usableTransports() }, async (targets, servers) => {
  // The baseline: raw on the bench's runtime, else any raw server.
  const baseline = servers.find((s) => s.kind === "raw" && s.runtime === RUNTIME) ??
    servers.find((s) => s.kind === "raw");
  // The header goes to stderr with --json, so stdout stays one JSON document.
  (args.json ? console.error : console.log)(
    `mitata, client runtime ${RUNTIME} ${RUNTIME_VERSION}: ${workload.chunks}-chunk burst, servers ${
      servers.map((s) => s.name).join(", ")
    }${baseline ? `, baseline ${baseline.name}` : ""}`,
  );
  register(targets, baseline, workload.chunks);
  await run(
    args.json ? { format: { json: { samples: false, debug: false } } } : { colors: false },
  );
});
process.exit(0);
