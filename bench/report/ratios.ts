/**
 * Ratios between cells of a latency report: ours/raw, Bun/Deno, transport
 * against transport, each `undefined` when one side did not run.
 * @module
 */
import type { LatencyCell, LatencyReport } from "../lib/latency.ts";
import type { ServerKind, ServerSpec } from "../lib/launch.ts";
import type { Transport } from "../lib/clients.ts";
import type { Runtime } from "../lib/runtime.ts";

/** A statistic picked from a cell. */
export type Pick = (c: LatencyCell) => number;

/** A latency mode. */
export type Mode = "burst" | "paced";

/** A statistic named as data: `ttlc.p50`, `oneWay.p99`, ... */
export type StatName = `${"ttfc" | "oneWay" | "ttlc"}.${"p50" | "p95" | "p99"}`;

/** The picker of a named statistic. */
export function stat(name: StatName): Pick {
  const [measure, p] = name.split(".") as ["ttfc" | "oneWay" | "ttlc", "p50" | "p95" | "p99"];
  return (c) => c[measure][p];
}

/** One side of a ratio: a server and a transport. */
export interface Side {
  server: ServerSpec;
  transport: Transport | string;
}

/** The cell of a (mode, server, transport), if it ran with samples. */
export function findCell(report: LatencyReport, q: Side & { mode: Mode }): LatencyCell | undefined {
  const c = report.cells.find((c) =>
    c.mode === q.mode && c.transport === q.transport && c.server === q.server.kind &&
    (c.runtime ?? "deno") === q.server.runtime
  );
  return c && c.samples ? c : undefined;
}

/** `a / b` of a statistic between two cells of a mode, if both ran. */
export function cellRatio(
  report: LatencyReport,
  q: { mode: Mode; pick: Pick; a: Side; b: Side },
): number | undefined {
  const x = findCell(report, { mode: q.mode, ...q.a });
  const y = findCell(report, { mode: q.mode, ...q.b });
  return x && y ? q.pick(x) / q.pick(y) : undefined;
}

/** What the ratios of one transport ask for. */
export interface RatioQuery {
  mode: Mode;
  transport: Transport | string;
  pick: Pick;
}

/** `a / b` of a statistic on one transport between two servers, if both ran. */
function acrossServers(
  report: LatencyReport,
  q: RatioQuery & { a: ServerSpec; b: ServerSpec },
): number | undefined {
  const side = (server: ServerSpec) => ({ server, transport: q.transport });
  return cellRatio(report, { ...q, a: side(q.a), b: side(q.b) });
}

/** `ours / raw` of a statistic on one server runtime (default Deno), if both ran. */
export function ratio(
  report: LatencyReport,
  q: RatioQuery & { runtime?: Runtime },
): number | undefined {
  const runtime = q.runtime ?? "deno";
  return acrossServers(report, { ...q, a: { kind: "ours", runtime }, b: { kind: "raw", runtime } });
}

/** `bun / deno` of a statistic for one server kind (default ours), if both ran. */
export function runtimeRatio(
  report: LatencyReport,
  q: RatioQuery & { kind?: ServerKind },
): number | undefined {
  const kind = q.kind ?? "ours";
  return acrossServers(report, { ...q, a: { kind, runtime: "bun" }, b: { kind, runtime: "deno" } });
}

/** `a / b` between two transports on one server, if both ran. */
export function transportRatio(
  report: LatencyReport,
  q: { mode: Mode; server: ServerSpec; transports: [Transport, Transport]; pick: Pick },
): number | undefined {
  return cellRatio(report, {
    ...q,
    a: { server: q.server, transport: q.transports[0] },
    b: { server: q.server, transport: q.transports[1] },
  });
}
