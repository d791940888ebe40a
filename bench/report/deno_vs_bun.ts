/**
 * The "Deno vs Bun" section: Bun/Deno ratios per transport for our server
 * and the raw baseline, WS/SSE ratios per runtime, and sentences of
 * conclusion computed from those ratios.
 * @module
 */
import { type Transport, TRANSPORTS } from "../lib/clients.ts";
import type { LatencyCell, LatencyReport } from "../lib/latency.ts";
import { ALL_SERVERS, parseServer, type ServerKind, serverName } from "../lib/launch.ts";
import { type Runtime, RUNTIMES } from "../lib/runtime.ts";
import { geomean } from "../lib/stats.ts";
import { fx, PAR_BAND, RUNTIME_NAME, speedWords, table } from "./format.ts";
import {
  findCell,
  type Mode,
  type Pick,
  ratio,
  runtimeRatio,
  stat,
  type StatName,
  transportRatio,
} from "./ratios.ts";

const ttlc50: Pick = (c: LatencyCell) => c.ttlc.p50;

/** The transports measured on both runtimes for a server kind in a mode. */
function bothRuntimes(lat: LatencyReport, q: { mode: Mode; kind: ServerKind }): Transport[] {
  const { mode, kind } = q;
  return TRANSPORTS.filter((t) =>
    findCell(lat, { mode, server: { kind, runtime: "deno" }, transport: t }) &&
    findCell(lat, { mode, server: { kind, runtime: "bun" }, transport: t })
  );
}

const INTRO = "Ratios are Bun / Deno of a time: below 1× Bun is faster. " +
  "`ours-bun` is `bun bun.ts` (the same Hono app on `Bun.serve`, WebSockets through our `server/transports/ws/bun_upgrade.ts`, session history in `bun:sqlite` `:memory:` instead of Deno KV); `raw-bun` is `bench/raw_server.ts` on `Bun.serve`.";

/** Bun / Deno columns: (server kind, mode, statistic, header). */
const RUNTIME_COLUMNS: [ServerKind, Mode, StatName, string][] = [
  ["ours", "burst", "ttfc.p50", "ours TTFC p50, burst"],
  ["ours", "burst", "ttlc.p50", "ours TTLC p50, burst"],
  ["ours", "burst", "ttlc.p95", "ours TTLC p95, burst"],
  ["ours", "paced", "oneWay.p50", "ours one-way p50, paced"],
  ["raw", "burst", "ttlc.p50", "raw TTLC p50, burst"],
  ["raw", "paced", "oneWay.p50", "raw one-way p50, paced"],
];

/** WS / SSE columns: (mode, transports, statistic, header). */
const WS_SSE_COLUMNS: [Mode, [Transport, Transport], StatName, string][] = [
  ["burst", ["ws-reused", "sse-fetch"], "ttfc.p50", "WS reused / SSE, TTFC p50, burst"],
  ["burst", ["ws-reused", "sse-fetch"], "ttlc.p50", "WS reused / SSE, TTLC p50, burst"],
  ["burst", ["ws-new", "sse-fetch"], "ttlc.p50", "WS new / SSE, TTLC p50, burst"],
  ["paced", ["ws-reused", "sse-fetch"], "oneWay.p50", "WS reused / SSE, one-way p50, paced"],
];

/** The WS vs SSE table, one row per server that ran. */
function wsVsSse(lat: LatencyReport): string[] {
  const specs = ALL_SERVERS.map(parseServer).filter((s) =>
    lat.cells.some((c) => c.server === s.kind && c.runtime === s.runtime)
  );
  return table({
    header: ["server", ...WS_SSE_COLUMNS.map((c) => c[3])],
    align: ["l", ...WS_SSE_COLUMNS.map(() => "r" as const)],
    rows: specs.map((s) => [
      serverName(s),
      ...WS_SSE_COLUMNS.map(([mode, pair, st]) =>
        fx(transportRatio(lat, { mode, server: s, transports: pair, pick: stat(st) }))
      ),
    ]),
  });
}

/** The section; says why when both runtimes' servers did not run. */
export function denoVsBunSection(lat: LatencyReport): string[] {
  const md: string[] = ["## Deno vs Bun", ""];
  const oursT = bothRuntimes(lat, { mode: "burst", kind: "ours" });
  const rawT = bothRuntimes(lat, { mode: "burst", kind: "raw" });
  if (oursT.length === 0 && rawT.length === 0) {
    const why = lat.skipped.filter((s) => /-(bun|deno):/.test(s));
    md.push(
      `Not measured: this run did not have both runtimes' servers${
        why.length ? ` (${why.join("; ")})` : ""
      }.`,
      "",
    );
    return md;
  }
  const client = lat.clientRuntime ?? "deno";
  const transports = TRANSPORTS.filter((t) => oursT.includes(t) || rawT.includes(t));
  md.push(
    `The same clients (the bench runs under **${client}**) against each server on each runtime, in the same round-robin as above. ${INTRO}`,
    "",
    ...table({
      header: ["transport", ...RUNTIME_COLUMNS.map((c) => c[3])],
      align: ["l", ...RUNTIME_COLUMNS.map(() => "r" as const)],
      rows: transports.map((t) => [
        t,
        ...RUNTIME_COLUMNS.map(([kind, mode, st]) =>
          fx(runtimeRatio(lat, { mode, transport: t, pick: stat(st), kind }))
        ),
      ]),
    }),
    "",
    "### WS vs SSE on each runtime",
    "",
    "WS / SSE (fetch) of a time: below 1× the WebSocket is faster.",
    "",
    ...wsVsSse(lat),
  );
  md.push("", ...denoVsBunConclusion(lat), "");
  return md;
}

type Named = [string, number][];
const list = (rs: Named) => rs.map(([t, x]) => `${t} ${fx(x)}`).join(", ");

/** "faster on 2, slower on 1, on par on 1 of 4 transports". */
function tally(rs: Named): string {
  const faster = rs.filter(([, x]) => x < 1 - PAR_BAND).length;
  const slower = rs.filter(([, x]) => x > 1 + PAR_BAND).length;
  return `faster on ${faster}, slower on ${slower}, on par on ${
    rs.length - faster - slower
  } of ${rs.length} transports`;
}

/** Bun / Deno per transport measured on both. */
function runtimeRatios(
  lat: LatencyReport,
  q: { mode: Mode; kind: ServerKind; pick: Pick },
): Named {
  const { mode, kind, pick } = q;
  return bothRuntimes(lat, q).map((
    t,
  ) => [t, runtimeRatio(lat, { mode, transport: t, pick, kind })!]);
}

/** Geometric mean of ours/raw TTLC p50 over transports on a runtime. */
function overhead(lat: LatencyReport, rt: Runtime): number | undefined {
  const xs = TRANSPORTS.map((t) =>
    ratio(lat, { mode: "burst", transport: t, pick: ttlc50, runtime: rt })
  )
    .filter((x): x is number => x !== undefined);
  return xs.length ? geomean(xs) : undefined;
}

/** The sentence on the share our stack costs over raw on each runtime. */
function overheadSentence(lat: LatencyReport): string | undefined {
  const od = overhead(lat, "deno"), ob = overhead(lat, "bun");
  if (od === undefined || ob === undefined) return undefined;
  const share = Math.abs(ob / od - 1) <= PAR_BAND
    ? "it costs about the same share on both runtimes"
    : ob < od
    ? "it costs a smaller share on Bun"
    : "it costs a larger share on Bun";
  return `Our stack's overhead over the raw server on the same runtime (ours/raw TTLC p50, geometric mean over transports) is ${
    fx(od)
  } on Deno and ${fx(ob)} on Bun, so ${share}.`;
}

/** The sentence on where a reused WebSocket beats SSE. */
function wsSentence(lat: LatencyReport): string | undefined {
  const ws: [Runtime, number][] = [];
  for (const rt of RUNTIMES) {
    const x = transportRatio(lat, {
      mode: "burst",
      server: { kind: "ours", runtime: rt },
      transports: ["ws-reused", "sse-fetch"],
      pick: ttlc50,
    });
    if (x !== undefined) ws.push([rt, x]);
  }
  if (!ws.length) return undefined;
  const wins = ws.filter(([, x]) => x < 1 - PAR_BAND).map(([rt]) => RUNTIME_NAME[rt]);
  const where = wins.length === ws.length
    ? (ws.length > 1 ? "on both runtimes" : `on ${wins[0]}`)
    : wins.length
    ? `on ${wins.join(" and ")} only`
    : "on neither runtime";
  return `A reused WebSocket finishes the burst before SSE (fetch) ${where} (ours, WS/SSE TTLC p50: ${
    ws.map(([rt, x]) => `${RUNTIME_NAME[rt]} ${fx(x)}`).join(", ")
  }).`;
}

/** Sentences of conclusion for {@link denoVsBunSection}, derived from the ratios. */
export function denoVsBunConclusion(lat: LatencyReport): string[] {
  const out: (string | undefined)[] = [];
  const ours = runtimeRatios(lat, { mode: "burst", kind: "ours", pick: ttlc50 });
  const raw = runtimeRatios(lat, { mode: "burst", kind: "raw", pick: ttlc50 });
  const paced = runtimeRatios(lat, { mode: "paced", kind: "ours", pick: stat("oneWay.p50") });
  const g = (rs: Named) => geomean(rs.map(([, x]) => x));
  if (ours.length) {
    out.push(
      `**Conclusion.** On a ${lat.burst.chunks}-chunk burst (TTLC p50) our server on Bun is ${
        speedWords(g(ours), "on Deno")
      } (geometric mean of Bun/Deno ${fx(g(ours))}; ${tally(ours)}: ${list(ours)}).`,
    );
  }
  if (raw.length) {
    out.push(
      `The raw baseline on Bun is ${speedWords(g(raw), "on Deno")} (geometric mean ${fx(g(raw))}; ${
        tally(raw)
      }).`,
    );
  }
  out.push(overheadSentence(lat));
  if (paced.length) {
    out.push(
      `Paced (${lat.paced.intervalMs} ms between chunks), our server's one-way latency p50 on Bun is ${
        speedWords(g(paced), "on Deno")
      } (geometric mean ${fx(g(paced))}).`,
    );
  }
  out.push(wsSentence(lat));
  const sentences = out.filter((s): s is string => s !== undefined);
  return sentences.length ? [sentences.join(" ")] : [];
}
