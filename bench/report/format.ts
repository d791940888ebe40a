/**
 * Number and word formats of the Markdown report, and the helpers every
 * section shares (server names of cells, cells in report order).
 * @module
 */
import { TRANSPORTS } from "../lib/clients.ts";
import type { LatencyCell, LatencyReport } from "../lib/latency.ts";
import { ALL_SERVERS, type ServerKind } from "../lib/launch.ts";
import { type Runtime, RUNTIMES } from "../lib/runtime.ts";
import type { Stats } from "../lib/stats.ts";
import type { Mode } from "./ratios.ts";

/** Two decimals, `–` for none. */
export const f2 = (n: number | undefined): string =>
  n === undefined || Number.isNaN(n) ? "–" : n.toFixed(2);
/** A ratio, `1.23×`, `–` for none. */
export const fx = (n: number | undefined): string =>
  n === undefined || Number.isNaN(n) ? "–" : `${n.toFixed(2)}×`;
/** `p50 / p95 / p99`. */
export const pct = (s: Stats): string => `${f2(s.p50)} / ${f2(s.p95)} / ${f2(s.p99)}`;
/** Bytes as KiB with one decimal, `–` for none. */
export const kib = (b: number | undefined): string => b === undefined ? "–" : (b / 1024).toFixed(1);

/** Display names of the runtimes. */
export const RUNTIME_NAME: Record<Runtime, string> = { deno: "Deno", bun: "Bun" };

/** Ratios within this distance of 1 are called "on par" in the report's prose. */
export const PAR_BAND = 0.05;

/**
 * Compares two times in words, from the ratio `a / b`: "1.52× faster than
 * <b>", "1.20× slower than <b>" or "on par with <b> (within 5%)".
 */
export function speedWords(ratio: number, than: string): string {
  if (!Number.isFinite(ratio)) return `not comparable with ${than}`;
  if (ratio < 1 - PAR_BAND) return `${(1 / ratio).toFixed(2)}× faster than ${than}`;
  if (ratio > 1 + PAR_BAND) return `${ratio.toFixed(2)}× slower than ${than}`;
  return `on par with ${than} (within ${Math.round(PAR_BAND * 100)}%)`;
}

/** A Markdown table: header, alignment row (`---` or `---:` per column), rows. */
export function table(
  { header, align, rows }: { header: string[]; align: ("l" | "r")[]; rows: string[][] },
): string[] {
  return [
    `| ${header.join(" | ")} |`,
    `| ${align.map((a) => a === "r" ? "---:" : "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ];
}

/** `ours-deno` etc. of a cell. */
export function cellServer(c: LatencyCell): string {
  return `${c.server}-${c.runtime}`;
}

/** Cells of a mode in report order: server (ours-deno, raw-deno, ours-bun, raw-bun), then transport. */
export function cellsOf(lat: LatencyReport, mode: Mode): LatencyCell[] {
  const rank = (c: LatencyCell) =>
    (ALL_SERVERS as readonly string[]).indexOf(cellServer(c)) * 10 +
    TRANSPORTS.indexOf(c.transport);
  return lat.cells.filter((c) => c.mode === mode).sort((a, b) => rank(a) - rank(b));
}

/** Runtimes a server kind ran on in a report. */
export function runtimesOf(lat: LatencyReport, kind: ServerKind): Runtime[] {
  return RUNTIMES.filter((rt) => lat.cells.some((c) => c.server === kind && c.runtime === rt));
}

/** Runtimes both ours and raw ran on (where an overhead ratio exists). */
export function overheadRuntimes(lat: LatencyReport): Runtime[] {
  const raw = runtimesOf(lat, "raw");
  return runtimesOf(lat, "ours").filter((rt) => raw.includes(rt));
}
