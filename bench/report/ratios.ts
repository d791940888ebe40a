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

/** The cell of a (mode, server, transport), if it ran with samples. */
export function findCell(
  report: LatencyReport,
  mode: "burst" | "paced",
  server: ServerSpec,
  transport: Transport | string,
): LatencyCell | undefined {
  const c = report.cells.find((c) =>
    c.mode === mode && c.transport === transport && c.server === server.kind &&
    (c.runtime ?? "deno") === server.runtime
  );
  return c && c.samples ? c : undefined;
}

/** `a / b` of a statistic between two servers' cells, if both ran. */
export function serverRatio(
  report: LatencyReport,
  mode: "burst" | "paced",
  transport: Transport | string,
  pick: (c: LatencyCell) => number,
  a: ServerSpec,
  b: ServerSpec,
): number | undefined {
  const x = findCell(report, mode, a, transport);
  const y = findCell(report, mode, b, transport);
  return x && y ? pick(x) / pick(y) : undefined;
}

/**
 * `ours / raw` ratio of a statistic for a mode and transport on one server
 * runtime (default Deno), if both ran.
 */
export function ratio(
  report: LatencyReport,
  mode: "burst" | "paced",
  transport: Transport | string,
  pick: (c: LatencyCell) => number,
  runtime: Runtime = "deno",
): number | undefined {
  return serverRatio(report, mode, transport, pick, { kind: "ours", runtime }, {
    kind: "raw",
    runtime,
  });
}

/** `bun / deno` ratio of a statistic for one server kind, if both ran. */
export function runtimeRatio(
  report: LatencyReport,
  mode: "burst" | "paced",
  transport: Transport | string,
  pick: (c: LatencyCell) => number,
  kind: ServerKind = "ours",
): number | undefined {
  return serverRatio(report, mode, transport, pick, { kind, runtime: "bun" }, {
    kind,
    runtime: "deno",
  });
}

/** `a / b` ratio between two transports on one server, if both ran. */
export function transportRatio(
  report: LatencyReport,
  mode: "burst" | "paced",
  server: ServerSpec,
  transports: [Transport | string, Transport | string],
  pick: (c: LatencyCell) => number,
): number | undefined {
  const x = findCell(report, mode, server, transports[0]);
  const y = findCell(report, mode, server, transports[1]);
  return x && y ? pick(x) / pick(y) : undefined;
}
