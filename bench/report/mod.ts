/**
 * Renders a suite result into the Markdown report and its SVG charts, one
 * small function per section (the targets are data, in `targets.ts`).
 * @module
 */
import type { BrowserReport } from "../browser.ts";
import type { LatencyReport } from "../lib/latency.ts";
import type { Runtime } from "../lib/runtime.ts";
import { browserSection } from "./browser.ts";
import { denoVsBunSection } from "./deno_vs_bun.ts";
import {
  burstSection,
  headlineSection,
  latencyCharts,
  latencyNotes,
  pacedSection,
} from "./latency.ts";
import { loadCharts, type LoadData, loadSection } from "./load.ts";
import { userSection } from "./user.ts";
import type { UserMeasureReport } from "../lib/user_measures.ts";
import type { WhereCpuReport } from "../lib/where_cpu.ts";
import { whereCpuSection } from "./where_cpu.ts";

export { denoVsBunConclusion, denoVsBunSection } from "./deno_vs_bun.ts";
export { PAR_BAND, speedWords } from "./format.ts";
export { headline, type Target, TARGETS } from "./targets.ts";
export { USER_TARGETS, userSection } from "./user.ts";
export { whereConclusion, whereCpuSection } from "./where_cpu.ts";

/** Everything a report holds. */
export interface SuiteResult {
  date: string;
  runtime: string;
  runtimeVersion: string;
  machine: { cpus: number; cpuModel: string; memGiB: number; os: string };
  smoke: boolean;
  /** Version of each server runtime's executable (undefined: not installed). */
  serverRuntimes?: Partial<Record<Runtime, string | undefined>>;
  /** Time to first chunk, CPU per chunk, idle memory (ours, raw, seed). */
  user?: UserMeasureReport;
  /** Where the CPU per chunk goes: ours against raw by thread and by part of the code. */
  whereCpu?: WhereCpuReport;
  latency?: LatencyReport;
  load?: LoadData;
  browser?: BrowserReport;
  durationMs: number;
}

/**
 * Fills in `runtime` on cells of reports written before the Bun servers
 * existed: `ours` ran on Deno, `raw` on the bench's runtime.
 */
export function normalizeLatency(lat: LatencyReport, benchRuntime: string): LatencyReport {
  const raw: Runtime = benchRuntime === "bun" ? "bun" : "deno";
  return {
    ...lat,
    cells: lat.cells.map((c) => ({
      ...c,
      runtime: c.runtime ?? (c.server === "ours" ? "deno" : raw),
    })),
  };
}

const SERVERS_EXPLAINED =
  "The machine is shared and noisy: read the ratios (measured side by side in one run), not the absolute milliseconds. " +
  'Servers are named `<implementation>-<runtime>`. "ours-deno" is `main.ts` (Hono + validated frames (zod; the usual query frame by an equivalent hand-written check, tested against the schema) + chat core + a Deno KV write of the session history per answer, KV_PATH=:memory:); ' +
  '"ours-bun" is `bun.ts` (the same app on `Bun.serve`, WebSockets through our `bun_upgrade.ts`, history in `bun:sqlite` `:memory:`); ' +
  '"raw-deno" / "raw-bun" are `bench/raw_server.ts` (plain `Deno.serve` + `Deno.upgradeWebSocket`, or `Bun.serve`; plain SSE stream, same frame bytes incl. `ts` and `seq`, no validation, no store). ' +
  "The rate limit, the per-IP connection cap and the per-client answer and message budgets of ours are switched off for the bench (`GUARDS_OFF` in `bench/lib/launch.ts`): every bench client comes from 127.0.0.1.";

/** Title, provenance (runtime, machine, duration) and how to read the report. */
function intro(r: SuiteResult): string[] {
  const runtimes = r.serverRuntimes
    ? ` Server runtimes: ${
      Object.entries(r.serverRuntimes).map(([k, v]) => `${k} ${v ?? "not installed"}`).join(", ")
    }.`
    : "";
  return [
    `# WebSocket vs SSE benchmark: ${r.date.slice(0, 10)} (${r.runtime})`,
    "",
    `Produced by \`bench/report.ts\` under **${r.runtime} ${r.runtimeVersion}** (the runtime of the bench and of every latency client) on ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memGiB} GiB, ${r.machine.os}${
      r.smoke ? " — **smoke run (tiny N, not a measurement)**" : ""
    }. Suite took ${(r.durationMs / 1000).toFixed(0)} s.${runtimes}`,
    "",
    SERVERS_EXPLAINED,
    "",
  ];
}

/** The commands that reproduce the report. */
const REPRODUCE = [
  "## Reproduce",
  "",
  "```sh",
  "deno task bench:report            # this report (bun bench/report.ts: the same with Bun clients)",
  "deno run -A bench/latency.ts --servers ours-deno,raw-deno,ours-bun,raw-bun   # latency only",
  "deno run -A bench/load.ts --levels 100,1000,5000,10000 --server-runtime both",
  "deno run -A bench/browser.ts",
  "bun bench/latency_mitata.ts && bun bench/load_gen.ts --url http://127.0.0.1:8000 --transport ws --connections 1000",
  "```",
  "",
];

/** Builds the Markdown report and chart files; returns name → content. */
export function renderReport(r: SuiteResult, baseName: string): Map<string, string> {
  const files = new Map<string, string>();
  const md = intro(r);
  if (r.user) md.push(...userSection(r.user));
  md.push(...whereCpuSection(r.whereCpu));
  const lat = r.latency ? normalizeLatency(r.latency, r.runtime) : undefined;
  if (lat) {
    md.push(
      ...headlineSection(lat, r.load?.levels ?? []),
      ...burstSection(lat, baseName),
      ...pacedSection(lat, baseName),
      ...latencyNotes(lat),
      "",
      ...denoVsBunSection(lat),
    );
    for (const [name, svg] of latencyCharts(lat, baseName)) files.set(name, svg);
  }
  if (r.load) {
    md.push(...loadSection(r.load, baseName));
    for (const [name, svg] of loadCharts(r.load, baseName)) files.set(name, svg);
  }
  if (r.browser) md.push(...browserSection(r.browser));
  md.push(...REPRODUCE);
  files.set(`${baseName}.md`, md.join("\n"));
  return files;
}
