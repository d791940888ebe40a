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
import { createParser } from "eventsource-parser";
import { SSE_PATH, WS_PATH } from "../protocol/codes.ts";

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

/** A log-bucketed histogram (≈1% resolution) of non-negative ms values. */
export class Histogram {
  #buckets = new Float64Array(2400);
  #count = 0;
  #max = 0;
  static #LOG = Math.log(1.01);
  /** Counts one value (negative values count as 0). */
  add(ms: number): void {
    const us = ms > 0 ? ms * 1000 : 0;
    let i = Math.floor(Math.log1p(us) / Histogram.#LOG);
    if (i >= 2400) i = 2399;
    this.#buckets[i]++;
    this.#count++;
    if (ms > this.#max) this.#max = ms;
  }
  /** Number of values. */
  get count(): number {
    return this.#count;
  }
  /** Upper edge of the bucket holding the p-th percentile, in ms. */
  percentile(p: number): number {
    if (this.#count === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.#count);
    let seen = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i];
      if (seen >= rank) {
        return Math.min(this.#max, Math.expm1((i + 1) * Histogram.#LOG) / 1000);
      }
    }
    return this.#max;
  }
  /** p50/p95/p99/max summary. */
  summary(): { p50: number; p95: number; p99: number; max: number } {
    return {
      p50: this.percentile(50),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: this.#count ? this.#max : NaN,
    };
  }
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const now = () => performance.timeOrigin + performance.now();

/** Runs the load; exported for the smoke test, used by the CLI below. */
export async function runLoad(opts: {
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
}): Promise<LoadResult> {
  const { transport, connections: n, turns, chunks } = opts;
  const url = new URL(opts.url);
  if (url.hostname !== "127.0.0.1" && url.hostname !== "localhost") {
    throw new Error(
      `Cannot run load: target must be 127.0.0.1, got "${url.hostname}"`,
    );
  }
  const log = opts.log ?? (() => {});
  const latency = new Histogram();
  const ttfc = new Histogram();
  const ttlc = new Histogram();
  const errors = {
    connect: 0,
    closedEarly: 0,
    seq: 0,
    lostChunks: 0,
    serverError: 0,
    timeout: 0,
  };
  let messages = 0;
  let answersOk = 0;
  let finishedClients = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((r) => (allDone = r));
  const clientFinished = () => {
    if (++finishedClients === n) allDone();
  };

  /** Per-answer frame checker shared by both transports. */
  class Answer {
    expect = 0;
    count = 0;
    bad = false;
    t0 = now();
    /** Returns true when the answer ended. */
    frame(text: string): boolean {
      const t = now();
      const f = JSON.parse(text);
      if (f.seq !== this.expect) {
        if (f.type === "error") {
          errors.serverError++;
          return true;
        }
        errors.seq++;
        this.bad = true;
      }
      this.expect = f.seq + 1;
      const type = f.type;
      if (type === "content") {
        if (this.count++ === 0) ttfc.add(t - this.t0);
        messages++;
        latency.add(t - f.ts);
        return false;
      }
      if (type === "done") {
        ttlc.add(t - this.t0);
        if (this.count !== chunks) {
          errors.lostChunks++;
          this.bad = true;
        }
        if (!this.bad) answersOk++;
        return true;
      }
      if (type === "error") {
        errors.serverError++;
        return true;
      }
      return false;
    }
  }

  const stopped = { value: false };
  const closers: (() => void)[] = [];
  const starters: (() => void)[] = [];
  const wsBase = url.origin.replace(/^http/, "ws") + WS_PATH;
  const tConnect = now();
  let connected = 0;
  let connectMs = 0;

  if (transport === "ws") {
    // Open all sockets first (at most 256 handshakes in flight).
    let next = 0;
    let inflight = 0;
    await new Promise<void>((resolveAll) => {
      const pump = () => {
        while (inflight < 256 && next < n) {
          const id = next++;
          inflight++;
          const ws = new WebSocket(wsBase);
          const session = `load-${id}`;
          let answer: Answer | undefined;
          let turn = 0;
          let opened = false;
          let over = false;
          const end = () => {
            if (over) return;
            over = true;
            clientFinished();
          };
          const ask = () => {
            answer = new Answer();
            ws.send(`{"query":"bench","session_id":"${session}"}`);
          };
          ws.onopen = () => {
            opened = true;
            connected++;
            inflight--;
            starters.push(ask);
            if (connected + errors.connect === n) resolveAll();
            else pump();
          };
          ws.onmessage = (e) => {
            if (answer && answer.frame(e.data as string)) {
              answer = undefined;
              if (++turn < turns && !stopped.value) ask();
              else end();
            }
          };
          ws.onerror = () => {};
          ws.onclose = () => {
            if (!opened) {
              errors.connect++;
              inflight--;
              end();
              if (connected + errors.connect === n) resolveAll();
              else pump();
            } else if (!over && !stopped.value) {
              errors.closedEarly++;
              end();
            }
          };
          closers.push(() => ws.close());
        }
      };
      pump();
      if (n === 0) resolveAll();
    });
    connectMs = Math.round(now() - tConnect);
    log(`connected ${connected}/${n} in ${connectMs} ms`);
    opts.onPhase?.("connected");
    await new Promise((r) => setTimeout(r, opts.idleMs));
  } else {
    const sseBase = url.origin + SSE_PATH;
    for (let id = 0; id < n; id++) {
      const session = `load-${id}`;
      const controller = new AbortController();
      closers.push(() => controller.abort());
      starters.push(async () => {
        for (let turn = 0; turn < turns && !stopped.value; turn++) {
          const answer = new Answer();
          let ended = false;
          try {
            const res = await fetch(
              `${sseBase}?query=bench&session_id=${session}`,
              { signal: controller.signal },
            );
            if (!res.ok || !res.body) {
              errors.connect++;
              break;
            }
            if (turn === 0) connected++;
            const parser = createParser({
              onEvent(ev) {
                if (!ended && answer.frame(ev.data)) ended = true;
              },
            });
            const reader = res.body.pipeThrough(new TextDecoderStream())
              .getReader();
            while (!ended) {
              const { value, done } = await reader.read();
              if (done) break;
              parser.feed(value);
            }
            if (!ended) {
              if (!stopped.value) errors.closedEarly++;
              break;
            }
          } catch {
            if (!stopped.value) errors.connect++;
            break;
          }
        }
        clientFinished();
      });
    }
  }

  // Start every client's first query, staggered over rampMs.
  const cpu0 = process.cpuUsage();
  const tStream = now();
  const slices = Math.max(1, Math.round(opts.rampMs / 10));
  const perSlice = Math.ceil(starters.length / slices);
  for (let i = 0; i < starters.length; i += perSlice) {
    for (const start of starters.slice(i, i + perSlice)) start();
    if (i + perSlice < starters.length) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  opts.onPhase?.("streaming");
  log(`streaming on ${starters.length} clients`);
  const progress = setInterval(() => {
    log(
      `  ${messages} msgs, ${answersOk} answers ok, ${finishedClients}/${n} clients done`,
    );
  }, 2000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    finished.then(() => false),
    new Promise<boolean>((
      r,
    ) => (timer = setTimeout(() => r(true), opts.timeoutMs))),
  ]);
  clearTimeout(timer);
  clearInterval(progress);
  const streamMs = now() - tStream;
  const cpu = process.cpuUsage(cpu0);
  stopped.value = true;
  if (timedOut) errors.timeout = n - finishedClients;
  for (const close of closers) close();
  return {
    runtime: "Bun" in globalThis ? "bun" : "deno",
    transport,
    connections: n,
    turns,
    chunksPerAnswer: chunks,
    connected,
    connectMs,
    streamMs: Math.round(streamMs),
    answersOk,
    answersExpected: n * turns,
    messages,
    messagesPerSec: Math.round(messages / (streamMs / 1000)),
    latencyMs: latency.summary(),
    ttfcMs: ttfc.summary(),
    ttlcMs: ttlc.summary(),
    errors,
    loadGenCpu: {
      userMs: Math.round(cpu.user / 1000),
      systemMs: Math.round(cpu.system / 1000),
      percentOfOneCore: Math.round(
        ((cpu.user + cpu.system) / 1000 / streamMs) * 1000,
      ) / 10,
    },
    loadGenRssBytes: process.memoryUsage().rss,
  };
}

if (import.meta.main) {
  const result = await runLoad({
    url: flag("url", "http://127.0.0.1:8000"),
    transport: flag("transport", "ws") === "sse" ? "sse" : "ws",
    connections: Number(flag("connections", "100")),
    turns: Number(flag("turns", "2")),
    chunks: Number(flag("chunks", "20")),
    idleMs: Number(flag("idle-ms", "1500")),
    rampMs: Number(flag("ramp-ms", "1000")),
    timeoutMs: Number(flag("timeout-ms", "60000")),
    onPhase: (p) => console.log(`PHASE ${p}`),
    log: (line) => console.error(line),
  });
  console.log(`RESULT ${JSON.stringify(result)}`);
  process.exit(0);
}
