/**
 * Load generator: N concurrent streaming clients against one server, run in
 * its own process so the server's CPU is not the client's.
 *
 * ```
 * deno run -A bench/load_gen.ts --url http://127.0.0.1:8000 --transport ws \
 *   --connections 1000 --turns 2 --chunks 20
 * bun bench/load_gen.ts --url ... (same flags)
 * ```
 *
 * Phases, announced on stdout so an orchestrator can sample server memory:
 * `PHASE connected` (WS only: every socket open, no answer yet; waits
 * `--idle-ms`), `PHASE streaming` (every client has sent its first query),
 * then one `RESULT {json}` line ({@link LoadResult}). Progress goes to
 * stderr. Cheap on purpose: each frame is `JSON.parse`d once, its `seq`
 * checked to be exactly previous+1, and its one-way latency counted into a
 * fixed log histogram; no per-frame allocation beyond the parse.
 * Targets 127.0.0.1 only and stops by itself after `--timeout-ms`.
 * @module
 */
import process from "node:process";
import { SSE_PATH, WS_PATH } from "../protocol/codes.ts";
import { parseFlags } from "./lib/args.ts";
import { readSse } from "./lib/clients.ts";
import { epochNow as now } from "./lib/runtime.ts";
import { Histogram } from "./lib/stats.ts";

/** What the load generator reports. */
export interface LoadResult {
  runtime: string;
  transport: "ws" | "sse";
  connections: number;
  turns: number;
  chunksPerAnswer: number;
  /** Sockets open at once before streaming (WS). */
  connected: number;
  /** Milliseconds to open all sockets (WS). */
  connectMs: number;
  /** Milliseconds from the first query to the last answer's end. */
  streamMs: number;
  /** Answers that ended with every chunk in order. */
  answersOk: number;
  answersExpected: number;
  /** Content frames received. */
  messages: number;
  /** Content frames per second over `streamMs`. */
  messagesPerSec: number;
  /** One-way latency (receive − server `ts`) percentiles, ms. */
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** Time to first chunk percentiles, ms (from query sent). */
  ttfcMs: { p50: number; p95: number; p99: number; max: number };
  /** Time to last chunk percentiles, ms (from query sent). */
  ttlcMs: { p50: number; p95: number; p99: number; max: number };
  errors: {
    connect: number;
    closedEarly: number;
    /** Frames whose `seq` was not previous+1 (gap, duplicate or reorder). */
    seq: number;
    /** Answers whose `done` came with fewer chunks than configured. */
    lostChunks: number;
    serverError: number;
    timeout: number;
  };
  /** The generator's own cost: CPU time over the streaming phase. */
  loadGenCpu: { userMs: number; systemMs: number; percentOfOneCore: number };
  loadGenRssBytes: number;
}

/** Options of {@link runLoad}. */
export interface LoadGenOptions {
  url: string;
  transport: "ws" | "sse";
  connections: number;
  turns: number;
  chunks: number;
  idleMs: number;
  rampMs: number;
  timeoutMs: number;
  /** Called with `connected` / `streaming` when a phase begins. */
  onPhase?: (phase: string) => void;
  log?: (line: string) => void;
}

/** Counters and histograms of one run, and the per-answer frame check. */
class Tally {
  readonly latency = new Histogram();
  readonly ttfc = new Histogram();
  readonly ttlc = new Histogram();
  readonly errors: LoadResult["errors"] = {
    connect: 0,
    closedEarly: 0,
    seq: 0,
    lostChunks: 0,
    serverError: 0,
    timeout: 0,
  };
  messages = 0;
  answersOk = 0;
  connected = 0;
  finishedClients = 0;
  /** Set once the run is over: closes are no longer errors. */
  stopped = false;
  readonly closers: (() => void)[] = [];
  /** Each client's first query, started by the ramp. */
  readonly starters: (() => void)[] = [];
  readonly finished: Promise<void>;
  #allDone!: () => void;
  #n: number;
  #chunks: number;

  constructor(n: number, chunks: number) {
    this.#n = n;
    this.#chunks = chunks;
    this.finished = new Promise<void>((r) => (this.#allDone = r));
  }

  /** Counts one client as finished. */
  clientFinished(): void {
    if (++this.finishedClients === this.#n) this.#allDone();
  }

  /** A checker of one answer's frames: `frame(text)` is true when it ended. */
  answer(): { frame(text: string): boolean } {
    const t0 = now();
    let expect = 0, count = 0, bad = false;
    return {
      frame: (text: string) => {
        const t = now();
        const f = JSON.parse(text);
        if (f.seq !== expect) {
          if (f.type === "error") {
            this.errors.serverError++;
            return true;
          }
          this.errors.seq++;
          bad = true;
        }
        expect = f.seq + 1;
        if (f.type === "content") {
          if (count++ === 0) this.ttfc.add(t - t0);
          this.messages++;
          this.latency.add(t - f.ts);
          return false;
        }
        if (f.type === "done") {
          this.ttlc.add(t - t0);
          if (count !== this.#chunks) {
            this.errors.lostChunks++;
            bad = true;
          }
          if (!bad) this.answersOk++;
          return true;
        }
        if (f.type === "error") this.errors.serverError++;
        return f.type === "error";
      },
    };
  }
}

/** One WS client: opens, registers its first query as a starter, asks `turns` times. */
function wsClient(
  tally: Tally,
  ctx: { wsBase: string; id: number; turns: number; onSettled: (opened: boolean) => void },
): void {
  const ws = new WebSocket(ctx.wsBase);
  const session = `load-${ctx.id}`;
  let answer: { frame(text: string): boolean } | undefined;
  let turn = 0, opened = false, over = false;
  const end = () => {
    if (over) return;
    over = true;
    tally.clientFinished();
  };
  const ask = () => {
    answer = tally.answer();
    ws.send(`{"query":"bench","session_id":"${session}"}`);
  };
  ws.onopen = () => {
    opened = true;
    tally.connected++;
    tally.starters.push(ask);
    ctx.onSettled(true);
  };
  ws.onmessage = (e) => {
    if (answer && answer.frame(e.data as string)) {
      answer = undefined;
      if (++turn < ctx.turns && !tally.stopped) ask();
      else end();
    }
  };
  ws.onerror = () => {};
  ws.onclose = () => {
    if (!opened) {
      tally.errors.connect++;
      end();
      ctx.onSettled(false);
    } else if (!over && !tally.stopped) {
      tally.errors.closedEarly++;
      end();
    }
  };
  tally.closers.push(() => ws.close());
}

/** Opens every WebSocket first, at most 256 handshakes in flight. */
function openWsClients(tally: Tally, opts: LoadGenOptions & { wsBase: string }): Promise<void> {
  const n = opts.connections;
  let next = 0, inflight = 0;
  return new Promise<void>((resolveAll) => {
    const pump = () => {
      while (inflight < 256 && next < n) {
        inflight++;
        wsClient(tally, {
          wsBase: opts.wsBase,
          id: next++,
          turns: opts.turns,
          onSettled: () => {
            inflight--;
            if (tally.connected + tally.errors.connect === n) resolveAll();
            else pump();
          },
        });
      }
    };
    pump();
    if (n === 0) resolveAll();
  });
}

/** One SSE client: a request per answer, `turns` answers one after another. */
async function sseClient(
  tally: Tally,
  ctx: { url: string; turns: number; signal: AbortSignal },
): Promise<void> {
  for (let turn = 0; turn < ctx.turns && !tally.stopped; turn++) {
    const answer = tally.answer();
    try {
      const res = await fetch(ctx.url, { signal: ctx.signal });
      if (!res.ok || !res.body) {
        tally.errors.connect++;
        break;
      }
      if (turn === 0) tally.connected++;
      if (!await readSse(res.body, (data) => answer.frame(data))) {
        if (!tally.stopped) tally.errors.closedEarly++;
        break;
      }
    } catch {
      if (!tally.stopped) tally.errors.connect++;
      break;
    }
  }
  tally.clientFinished();
}

/** Starts every client's first query, staggered over `rampMs`. */
async function ramp(starters: (() => void)[], rampMs: number): Promise<void> {
  const slices = Math.max(1, Math.round(rampMs / 10));
  const perSlice = Math.ceil(starters.length / slices);
  for (let i = 0; i < starters.length; i += perSlice) {
    for (const start of starters.slice(i, i + perSlice)) start();
    if (i + perSlice < starters.length) await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits for every client, logging progress; true when `timeoutMs` passed first. */
async function awaitClients(tally: Tally, opts: LoadGenOptions): Promise<boolean> {
  const log = opts.log ?? (() => {});
  const progress = setInterval(() => {
    log(
      `  ${tally.messages} msgs, ${tally.answersOk} answers ok, ${tally.finishedClients}/${opts.connections} clients done`,
    );
  }, 2000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    tally.finished.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), opts.timeoutMs))),
  ]);
  clearTimeout(timer);
  clearInterval(progress);
  return timedOut;
}

/** The result of a finished run. */
function summarize(
  tally: Tally,
  m: LoadGenOptions & {
    connectMs: number;
    streamMs: number;
    cpu: { user: number; system: number };
  },
): LoadResult {
  const opts = m;
  const { streamMs, cpu } = m;
  return {
    runtime: "Bun" in globalThis ? "bun" : "deno",
    transport: opts.transport,
    connections: opts.connections,
    turns: opts.turns,
    chunksPerAnswer: opts.chunks,
    connected: tally.connected,
    connectMs: m.connectMs,
    streamMs: Math.round(streamMs),
    answersOk: tally.answersOk,
    answersExpected: opts.connections * opts.turns,
    messages: tally.messages,
    messagesPerSec: Math.round(tally.messages / (streamMs / 1000)),
    latencyMs: tally.latency.summary(),
    ttfcMs: tally.ttfc.summary(),
    ttlcMs: tally.ttlc.summary(),
    errors: tally.errors,
    loadGenCpu: {
      userMs: Math.round(cpu.user / 1000),
      systemMs: Math.round(cpu.system / 1000),
      percentOfOneCore: Math.round(((cpu.user + cpu.system) / 1000 / streamMs) * 1000) / 10,
    },
    loadGenRssBytes: process.memoryUsage().rss,
  };
}

/** Runs the load; exported for the smoke test, used by the CLI below. */
export async function runLoad(opts: LoadGenOptions): Promise<LoadResult> {
  const n = opts.connections;
  const url = new URL(opts.url);
  if (url.hostname !== "127.0.0.1" && url.hostname !== "localhost") {
    throw new Error(`Cannot run load: target must be 127.0.0.1, got "${url.hostname}"`);
  }
  const log = opts.log ?? (() => {});
  const tally = new Tally(n, opts.chunks);
  const tConnect = now();
  let connectMs = 0;
  if (opts.transport === "ws") {
    await openWsClients(tally, { ...opts, wsBase: url.origin.replace(/^http/, "ws") + WS_PATH });
    connectMs = Math.round(now() - tConnect);
    log(`connected ${tally.connected}/${n} in ${connectMs} ms`);
    opts.onPhase?.("connected");
    await new Promise((r) => setTimeout(r, opts.idleMs));
  } else {
    for (let id = 0; id < n; id++) {
      const controller = new AbortController();
      tally.closers.push(() => controller.abort());
      const sseUrl = `${url.origin}${SSE_PATH}?query=bench&session_id=load-${id}`;
      tally.starters.push(() =>
        sseClient(tally, { url: sseUrl, turns: opts.turns, signal: controller.signal })
      );
    }
  }
  const cpu0 = process.cpuUsage();
  const tStream = now();
  await ramp(tally.starters, opts.rampMs);
  opts.onPhase?.("streaming");
  log(`streaming on ${tally.starters.length} clients`);
  const timedOut = await awaitClients(tally, opts);
  const streamMs = now() - tStream;
  const cpu = process.cpuUsage(cpu0);
  tally.stopped = true;
  if (timedOut) tally.errors.timeout = n - tally.finishedClients;
  for (const close of tally.closers) close();
  return summarize(tally, { ...opts, connectMs, streamMs, cpu });
}

if (import.meta.main) {
  const args = parseFlags({
    url: "string",
    transport: "string",
    connections: "string",
    turns: "string",
    chunks: "string",
    "idle-ms": "string",
    "ramp-ms": "string",
    "timeout-ms": "string",
  });
  const result = await runLoad({
    url: args.url ?? "http://127.0.0.1:8000",
    transport: args.transport === "sse" ? "sse" : "ws",
    connections: Number(args.connections ?? "100"),
    turns: Number(args.turns ?? "2"),
    chunks: Number(args.chunks ?? "20"),
    idleMs: Number(args["idle-ms"] ?? "1500"),
    rampMs: Number(args["ramp-ms"] ?? "1000"),
    timeoutMs: Number(args["timeout-ms"] ?? "60000"),
    onPhase: (p) => console.log(`PHASE ${p}`),
    log: (line) => console.error(line),
  });
  console.log(`RESULT ${JSON.stringify(result)}`);
  process.exit(0);
}
