/**
 * Browser connection limit, in real Chromium (`playwright-core` driving
 * `/usr/bin/chromium`): opens 10 `EventSource` streams and 10 WebSockets to
 * one origin and counts how many are live at once, over HTTP/1.1 and then
 * SSE over HTTP/2 (TLS with a throwaway self-signed certificate made at run
 * time with `openssl`, served by the raw baseline's `Deno.serve` cert/key).
 * While the streams are open it also times one ordinary `fetch` to the same
 * origin, since under HTTP/1.1 that request queues behind the streams too.
 *
 * The servers are `ours-deno` and `raw-deno` (a browser's connection pool
 * does not depend on the server's runtime).
 * Skips with a message when Chromium or `openssl` is missing.
 * Run: `deno run -A bench/browser.ts [--smoke]`.
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { SSE_PATH, WS_PATH } from "../protocol/codes.ts";
import type { Browser } from "playwright-core";
import { parseFlags } from "./lib/args.ts";
import {
  oursAvailable,
  type ServerHandle,
  type ServerKind,
  startServer,
  type Workload,
} from "./lib/launch.ts";
import type { Runtime } from "./lib/runtime.ts";

/** One scenario's outcome. */
export interface BrowserScenario {
  server: ServerKind;
  /** Runtime of the server (reports before Bun servers lack it: Deno). */
  runtime?: Runtime;
  /** Protocol Chromium negotiated for the page (`http/1.1`, `h2`). */
  protocol: string;
  transport: "sse" | "ws";
  requested: number;
  /** Streams that reached `open` within the window. */
  opened: number;
  /** Streams that received at least one content frame within the window. */
  receiving: number;
  /** Milliseconds a plain `fetch` took while the streams were open. */
  fetchWhileOpenMs: number | null;
}

/** What {@link runBrowser} returns. */
export interface BrowserReport {
  skipped?: string;
  chromium?: string;
  windowMs: number;
  scenarios: BrowserScenario[];
}

/** Options of {@link runBrowser}. */
export interface BrowserOptions {
  streams: number;
  /** How long to wait before counting live streams, ms. */
  windowMs: number;
  /** Server workload; answers must outlast the window. */
  workload: Workload;
  log?: (line: string) => void;
}

/** Full run. */
export const FULL_BROWSER: BrowserOptions = {
  streams: 10,
  windowMs: 3_000,
  workload: { chunks: 80, chunkBytes: 16, intervalMs: 100 },
};

/** Smoke run (same counts, shorter window). */
export const SMOKE_BROWSER: BrowserOptions = {
  streams: 10,
  windowMs: 1_500,
  workload: { chunks: 40, chunkBytes: 16, intervalMs: 100 },
};

/** Chromium executable: `CHROMIUM_PATH` or Debian's `/usr/bin/chromium`. */
export function chromiumPath(): string | undefined {
  const candidates = [
    process.env.CHROMIUM_PATH,
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
  ];
  return candidates.find((p) => p && existsSync(p));
}

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Runs in the page: opens `n` streams, counts them after `windowMs`. */
function pageProbe(
  args: {
    kind: "sse" | "ws";
    n: number;
    windowMs: number;
    ssePath: string;
    wsPath: string;
  },
): Promise<
  { opened: number; receiving: number; fetchMs: number | null; proto: string }
> {
  const { kind, n, windowMs } = args;
  const nav = performance.getEntriesByType("navigation")[0] as
    | PerformanceNavigationTiming
    | undefined;
  const proto = nav?.nextHopProtocol ?? "unknown";
  let opened = 0;
  let receiving = 0;
  const closers: (() => void)[] = [];
  for (let i = 0; i < n; i++) {
    const session = `browser-${kind}-${i}-${Date.now()}`;
    let got = false;
    const onFrame = (data: string) => {
      const f = JSON.parse(data);
      if (f.type === "content" && !got) {
        got = true;
        receiving++;
      }
    };
    if (kind === "sse") {
      const es = new EventSource(
        `${args.ssePath}?query=bench&session_id=${session}`,
      );
      es.onopen = () => opened++;
      es.onmessage = (e) => onFrame(e.data);
      closers.push(() => es.close());
    } else {
      const ws = new WebSocket(
        `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${args.wsPath}`,
      );
      ws.onopen = () => {
        opened++;
        ws.send(JSON.stringify({ query: "bench", session_id: session }));
      };
      ws.onmessage = (e) => onFrame(e.data);
      closers.push(() => ws.close());
    }
  }
  return new Promise((resolve) => {
    setTimeout(async () => {
      const t0 = performance.now();
      const timeout = new Promise<null>((r) => setTimeout(() => r(null), 1500));
      const fetched = fetch(`${location.pathname}?probe=${Date.now()}`, {
        cache: "no-store",
      }).then((r) => r.text()).then(() => performance.now() - t0).catch(() => null);
      const fetchMs = await Promise.race([fetched, timeout]);
      const result = { opened, receiving, fetchMs, proto };
      for (const close of closers) close();
      resolve(result);
    }, windowMs);
  });
}

/** A server the browser visits: its page, and whether to try WebSockets. */
interface Visit {
  server: ServerHandle;
  page: string;
  ws: boolean;
}

/** Writes a self-signed certificate for 127.0.0.1 into `dir`. */
function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ], { stdio: "ignore" });
  return { cert, key };
}

/**
 * Starts ours (HTTP/1.1), raw (HTTP/1.1) and, with `openssl`, raw over TLS
 * (HTTP/2); pushes each onto `servers` as soon as it runs.
 */
async function startVisits(
  opts: BrowserOptions,
  ctx: { certDir: string; servers: ServerHandle[]; log: (line: string) => void },
): Promise<Visit[]> {
  const visits: Visit[] = [];
  const start = async (kind: ServerKind, env?: Record<string, string>) => {
    const s = await startServer(kind, opts.workload, { runtime: "deno", env });
    ctx.servers.push(s);
    return s;
  };
  if (oursAvailable()) visits.push({ server: await start("ours"), page: "/healthz", ws: true });
  visits.push({ server: await start("raw"), page: "/", ws: true });
  if (hasOpenssl()) {
    const { cert, key } = selfSignedCert(ctx.certDir);
    const tls = await start("raw", { TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
    visits.push({ server: tls, page: "/", ws: false });
  } else {
    ctx.log("browser: openssl not found, skipping HTTP/2");
  }
  return visits;
}

/** One scenario in a fresh context (no pooled connections carried over). */
async function probe(
  browser: Browser,
  opts: BrowserOptions & { visit: Visit; kind: "sse" | "ws" },
): Promise<BrowserScenario> {
  const { visit } = opts;
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(visit.server.url + visit.page);
  const r = await page.evaluate(pageProbe, {
    kind: opts.kind,
    n: opts.streams,
    windowMs: opts.windowMs,
    ssePath: SSE_PATH,
    wsPath: WS_PATH,
  });
  await context.close();
  return {
    server: visit.server.kind,
    runtime: visit.server.runtime,
    protocol: r.proto,
    transport: opts.kind,
    requested: opts.streams,
    opened: r.opened,
    receiving: r.receiving,
    fetchWhileOpenMs: r.fetchMs === null ? null : Math.round(r.fetchMs * 10) / 10,
  };
}

/** Runs the browser scenarios; returns `skipped` when Chromium is missing. */
export async function runBrowser(opts: BrowserOptions): Promise<BrowserReport> {
  const log = opts.log ?? (() => {});
  const executablePath = chromiumPath();
  if (!executablePath) {
    return {
      skipped: "Chromium not found (set CHROMIUM_PATH or apt-get install chromium)",
      windowMs: opts.windowMs,
      scenarios: [],
    };
  }
  const { chromium } = await import("playwright-core");
  const scenarios: BrowserScenario[] = [];
  const certDir = mkdtempSync(join(tmpdir(), "bench-cert-"));
  const servers: ServerHandle[] = [];
  // Playwright gives the browser a fresh temporary profile of its own.
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
  try {
    for (const visit of await startVisits(opts, { certDir, servers, log })) {
      for (const kind of visit.ws ? ["sse", "ws"] as const : ["sse"] as const) {
        const scenario = await probe(browser, { ...opts, visit, kind });
        scenarios.push(scenario);
        log(
          `browser: ${scenario.server} ${scenario.protocol} ${kind}: ${scenario.receiving}/${scenario.requested} streaming, fetch ${
            scenario.fetchWhileOpenMs ?? "blocked"
          } ms`,
        );
      }
    }
  } finally {
    await browser.close();
    await Promise.all(servers.map((s) => s.close()));
    rmSync(certDir, { recursive: true, force: true });
  }
  return { chromium: browser.version(), windowMs: opts.windowMs, scenarios };
}

if (import.meta.main) {
  const report = await runBrowser({
    ...(parseFlags({ smoke: "boolean" }).smoke ? SMOKE_BROWSER : FULL_BROWSER),
    log: (l) => console.error(l),
  });
  console.log(JSON.stringify(report, null, 2));
  process.exit(0);
}
