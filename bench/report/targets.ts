/**
 * The report's headline: the pass/fail targets as data (name, measure,
 * limit, comparison) and the small functions that evaluate and render them.
 * @module
 */
import type { Transport } from "../lib/clients.ts";
import type { LatencyReport } from "../lib/latency.ts";
import type { LoadLevel } from "../load.ts";
import { type Runtime, RUNTIMES } from "../lib/runtime.ts";
import { fx, overheadRuntimes, runtimesOf, table } from "./format.ts";
import { type Mode, ratio, runtimeRatio, stat, type StatName, transportRatio } from "./ratios.ts";

/** What a target measures. */
export type Measure =
  /** ours / raw of a statistic on the same runtime (`spread`: shown beside it). */
  | { kind: "overhead"; mode: Mode; transport: Transport; stat: StatName; spread?: StatName }
  /** Lost or reordered answers of the load level with at least `connections` streams. */
  | { kind: "load"; transport: "ws" | "sse"; connections: number }
  /** a / b of a statistic between two transports on our server. */
  | { kind: "transports"; mode: Mode; transports: [Transport, Transport]; stat: StatName }
  /** Bun / Deno of a statistic on our server. */
  | { kind: "runtimes"; mode: Mode; transport: Transport; stat: StatName };

/**
 * How a value meets its target: `at-most` (value ≤ limit), `none-lost`
 * (every answer complete, at most `limit` errors), `claim` (shown against
 * the seed's claim, not judged), `see` (a pointer to a section).
 */
export type Comparison = "at-most" | "none-lost" | "claim" | "see";

/** One headline row (or one per runtime); `{rt}` in the name is the runtime. */
export interface Target {
  name: string;
  measure: Measure;
  limit?: number;
  comparison: Comparison;
  /** Text of a `claim` or `see` target. */
  note?: string;
}

const claim = (name: string, mode: Mode, transports: [Transport, Transport], s: StatName) =>
  ({
    name: `ours-{rt}, ${name}`,
    measure: { kind: "transports", mode, transports, stat: s },
    comparison: "claim",
    note: "WS lower latency",
  }) as const satisfies Target;

/** The targets, in headline order. */
export const TARGETS: readonly Target[] = [
  {
    name: "ours-{rt}/raw-{rt}, WS (reused) TTLC p50, {chunks}-chunk burst",
    measure: {
      kind: "overhead",
      mode: "burst",
      transport: "ws-reused",
      stat: "ttlc.p50",
      spread: "ttlc.p95",
    },
    limit: 1.15,
    comparison: "at-most",
  },
  {
    name: "ours-{rt}/raw-{rt}, SSE (fetch) TTLC p50, {chunks}-chunk burst",
    measure: {
      kind: "overhead",
      mode: "burst",
      transport: "sse-fetch",
      stat: "ttlc.p50",
      spread: "ttlc.p95",
    },
    limit: 1.15,
    comparison: "at-most",
  },
  {
    name: "{server}-{rt}: {connections} concurrent WS streams, answers complete and in order",
    measure: { kind: "load", transport: "ws", connections: 10_000 },
    limit: 0,
    comparison: "none-lost",
  },
  claim("WS reused / SSE fetch, TTFC p50, burst", "burst", ["ws-reused", "sse-fetch"], "ttfc.p50"),
  claim(
    "WS new-per-query / SSE fetch, TTFC p50, burst",
    "burst",
    ["ws-new", "sse-fetch"],
    "ttfc.p50",
  ),
  claim("WS reused / SSE fetch, TTLC p50, burst", "burst", ["ws-reused", "sse-fetch"], "ttlc.p50"),
  claim(
    "WS reused / SSE fetch, one-way per-chunk p50, paced",
    "paced",
    ["ws-reused", "sse-fetch"],
    "oneWay.p50",
  ),
  ...(["ws-reused", "sse-fetch"] as const).map((t) =>
    ({
      name: `ours, Bun / Deno, ${t} TTLC p50, burst`,
      measure: { kind: "runtimes", mode: "burst", transport: t, stat: "ttlc.p50" },
      comparison: "see",
      note: "Deno vs Bun",
    }) as const satisfies Target
  ),
];

/** What a headline is computed from. */
export interface HeadlineData {
  lat: LatencyReport;
  loadLevels: LoadLevel[];
}

/** Runtimes a kind of measure is shown for (rows repeat per runtime). */
function runtimesFor(kind: Measure["kind"], d: HeadlineData): Runtime[] {
  if (kind === "overhead") return overheadRuntimes(d.lat);
  if (kind === "load") return [...RUNTIMES];
  if (kind === "transports") return runtimesOf(d.lat, "ours");
  // One row in all, when our server ran on both runtimes.
  return runtimesOf(d.lat, "ours").length === 2 ? ["deno"] : [];
}

/** The target column of a judged value. */
function verdict(t: Target, met: boolean | undefined): string {
  const word = met === undefined ? "" : met ? "**met**" : "**missed**";
  if (t.comparison === "at-most") return `≤ ${t.limit}× ${word}`;
  if (t.comparison === "none-lost") return `all, ${t.limit} lost/reordered ${word}`;
  return t.comparison === "claim" ? `(claim: ${t.note})` : `(see ${t.note})`;
}

/** A target on the latency report. */
type LatencyTarget = Target & { measure: Exclude<Measure, { kind: "load" }> };

/** True for a target on the load ramp. */
function isLoad(t: Target): t is Target & { measure: { kind: "load" } } {
  return t.measure.kind === "load";
}

/** A latency target's row on one runtime. */
function latencyRow(
  t: LatencyTarget,
  at: { d: HeadlineData; rt: Runtime },
): string[] {
  const { d, rt } = at;
  const m = t.measure;
  const name = t.name.replaceAll("{rt}", rt).replace("{chunks}", String(d.lat.burst.chunks));
  const q = { mode: m.mode, pick: stat(m.stat) };
  if (m.kind === "overhead") {
    const x = ratio(d.lat, { ...q, transport: m.transport, runtime: rt });
    const spread = m.spread
      ? ` (${m.spread.split(".")[1]} ${
        fx(ratio(d.lat, { ...q, transport: m.transport, pick: stat(m.spread), runtime: rt }))
      })`
      : "";
    return [name, `${fx(x)}${spread}`, verdict(t, x === undefined ? x : x <= t.limit!)];
  }
  if (m.kind === "transports") {
    const server = { kind: "ours", runtime: rt } as const;
    const x = transportRatio(d.lat, { ...q, server, transports: m.transports });
    return [name, fx(x), verdict(t, undefined)];
  }
  return [name, fx(runtimeRatio(d.lat, { ...q, transport: m.transport })), verdict(t, undefined)];
}

/** A load target's row on one server runtime, if that level ran. */
function loadRow(
  t: Target & { measure: { kind: "load" } },
  at: { d: HeadlineData; rt: Runtime },
): string[] | undefined {
  const { d, rt } = at;
  const m = t.measure;
  const level = d.loadLevels.find((l) =>
    l.transport === m.transport && l.connections >= m.connections &&
    (l.serverRuntime ?? "deno") === rt
  );
  if (!level?.result) return undefined;
  const x = level.result;
  const e = x.errors;
  const lost = e.seq + e.lostChunks + e.closedEarly + e.connect + e.timeout + e.serverError;
  const name = t.name.replace("{server}", level.server).replace("{rt}", rt)
    .replace("{connections}", String(level.connections));
  const met = lost <= t.limit! && x.answersOk === x.answersExpected;
  return [name, `${x.answersOk}/${x.answersExpected}, ${lost} errors`, verdict(t, met)];
}

/** The rows of consecutive targets of one kind: per runtime, every target. */
function groupRows(group: Target[], d: HeadlineData): string[][] {
  const rows: string[][] = [];
  for (const rt of runtimesFor(group[0].measure.kind, d)) {
    for (const t of group) {
      const row = isLoad(t) ? loadRow(t, { d, rt }) : latencyRow(t as LatencyTarget, { d, rt });
      if (row) rows.push(row);
    }
  }
  return rows;
}

/** The headline table: every target evaluated against the data. */
export function headline(d: HeadlineData, targets: readonly Target[] = TARGETS): string[] {
  const groups: Target[][] = [];
  for (const t of targets) {
    const last = groups.at(-1);
    if (last && last[0].measure.kind === t.measure.kind) last.push(t);
    else groups.push([t]);
  }
  return table({
    header: ["measure", "value", "target"],
    align: ["l", "l", "l"],
    rows: groups.flatMap((g) => groupRows(g, d)),
  });
}
