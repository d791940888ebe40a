/**
 * The bench's latency clients, one query each, measuring one answer: a
 * WebSocket reused across queries, a WebSocket per query, SSE read with
 * `fetch` + `eventsource-parser`, and SSE with the `EventSource` global.
 *
 * Portable between Deno and Bun: web globals only.
 * @module
 */
import { createParser } from "eventsource-parser";
import { SSE_PATH, WS_PATH } from "../../protocol/codes.ts";
import { epochNow } from "./runtime.ts";

/** Measurements of one answer. All times in ms. */
export interface AnswerSample {
  /** Query sent (or connection started) → first content frame received. */
  ttfc: number;
  /** Query sent (or connection started) → last content frame received. */
  ttlc: number;
  /** Per content frame: receive time − server `ts` (one-way latency). */
  oneWay: number[];
  /** Content frames received. */
  chunks: number;
}

/** The four transports compared. */
export type Transport =
  | "ws-reused"
  | "ws-new"
  | "sse-fetch"
  | "sse-eventsource";

/** All transports, in report order. */
export const TRANSPORTS: readonly Transport[] = [
  "ws-reused",
  "ws-new",
  "sse-fetch",
  "sse-eventsource",
];

/** True when the runtime offers the transport (Bun has no `EventSource`). */
export function transportAvailable(t: Transport): boolean {
  return t !== "sse-eventsource" ||
    typeof globalThis.EventSource === "function";
}

let idCounter = 0;
/** A fresh session id matching the protocol's `ID_PATTERN`. */
export function sessionId(prefix = "bench"): string {
  return `${prefix}-${(++idCounter).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Converts `http://host:port` to `ws://host:port`. */
export function wsUrl(base: string): string {
  return base.replace(/^http/, "ws") + WS_PATH;
}

/** SSE URL for a query. */
export function sseUrl(base: string, session: string, query = "bench"): string {
  return `${base}${SSE_PATH}?query=${encodeURIComponent(query)}&session_id=${
    encodeURIComponent(session)
  }`;
}

/** Tracks one answer's frames: sequence check and timings. */
class AnswerTracker {
  #t0: number;
  #expect = 0;
  #first = 0;
  #last = 0;
  #oneWay: number[] = [];
  #chunks = 0;
  constructor(t0: number) {
    this.#t0 = t0;
  }
  /** Feeds one frame's text; returns true on `done`. Throws on a bad seq. */
  feed(text: string): boolean {
    const now = epochNow();
    const f = JSON.parse(text) as {
      type: string;
      seq?: number;
      ts?: number;
      code?: string;
      message?: string;
    };
    if (f.type === "error") {
      throw new Error(`Server error: ${f.code}: ${f.message}`);
    }
    if (f.seq !== this.#expect) {
      throw new Error(
        `Cannot accept frame: seq ${f.seq} where ${this.#expect} was expected`,
      );
    }
    this.#expect++;
    if (f.type === "content") {
      if (this.#chunks === 0) this.#first = now;
      this.#last = now;
      this.#chunks++;
      if (typeof f.ts === "number") this.#oneWay.push(now - f.ts);
      return false;
    }
    return f.type === "done";
  }
  result(): AnswerSample {
    return {
      ttfc: this.#first - this.#t0,
      ttlc: this.#last - this.#t0,
      oneWay: this.#oneWay,
      chunks: this.#chunks,
    };
  }
}

/** A WebSocket kept open across queries (many turns over one socket). */
export class ReusedWs {
  #ws: WebSocket;
  #session = sessionId("wsr");
  #current?: {
    tracker: AnswerTracker;
    resolve: (s: AnswerSample) => void;
    reject: (e: Error) => void;
  };
  #open: Promise<void>;

  /** Opens the socket; await {@link ready} before the first query. */
  constructor(base: string) {
    this.#ws = new WebSocket(wsUrl(base));
    this.#open = new Promise((resolve, reject) => {
      this.#ws.onopen = () => resolve();
      this.#ws.onerror = () => reject(new Error("Cannot open WebSocket"));
    });
    this.#ws.onmessage = (e) => {
      const cur = this.#current;
      if (!cur) return;
      try {
        if (cur.tracker.feed(e.data as string)) {
          this.#current = undefined;
          cur.resolve(cur.tracker.result());
        }
      } catch (err) {
        this.#current = undefined;
        cur.reject(err as Error);
      }
    };
    this.#ws.onclose = () => {
      this.#current?.reject(new Error("WebSocket closed mid-answer"));
      this.#current = undefined;
    };
  }
  /** Resolves once the socket is open. */
  ready(): Promise<void> {
    return this.#open;
  }
  /** Sends one query and resolves with the answer's measurements. */
  query(): Promise<AnswerSample> {
    return new Promise((resolve, reject) => {
      this.#current = {
        tracker: new AnswerTracker(epochNow()),
        resolve,
        reject,
      };
      this.#ws.send(
        JSON.stringify({ query: "bench", session_id: this.#session }),
      );
    });
  }
  /** Closes the socket. */
  close(): void {
    this.#ws.close();
  }
}

/** One query on a fresh WebSocket; timings include the handshake. */
export function wsNewQuery(base: string): Promise<AnswerSample> {
  const tracker = new AnswerTracker(epochNow());
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base));
    let done = false;
    ws.onopen = () => ws.send(JSON.stringify({ query: "bench", session_id: sessionId("wsn") }));
    ws.onmessage = (e) => {
      try {
        if (tracker.feed(e.data as string)) {
          done = true;
          ws.close();
          resolve(tracker.result());
        }
      } catch (err) {
        done = true;
        ws.close();
        reject(err);
      }
    };
    ws.onerror = () => {
      if (!done) reject(new Error("WebSocket error"));
    };
    ws.onclose = () => {
      if (!done) reject(new Error("WebSocket closed mid-answer"));
    };
  });
}

/**
 * Reads an SSE body with `eventsource-parser`, handing each event's data to
 * `onData` until it returns true (the answer ended: resolves true) or the
 * body ends first (resolves false). The reader is released either way.
 */
export async function readSse(
  body: ReadableStream<Uint8Array<ArrayBuffer>>,
  onData: (data: string) => boolean,
): Promise<boolean> {
  let ended = false;
  let failure: unknown;
  const parser = createParser({
    onEvent(ev) {
      if (ended || failure) return;
      try {
        ended = onData(ev.data);
      } catch (err) {
        failure = err;
      }
    },
  });
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (!ended && !failure) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (failure) throw failure;
  return ended;
}

/** One query over SSE read with `fetch` and `eventsource-parser`. */
export async function sseFetchQuery(base: string): Promise<AnswerSample> {
  const tracker = new AnswerTracker(epochNow());
  const res = await fetch(sseUrl(base, sessionId("ssf")));
  if (!res.ok || !res.body) {
    throw new Error(`Cannot read SSE stream: status ${res.status}`);
  }
  if (!await readSse(res.body, (data) => tracker.feed(data))) {
    throw new Error("SSE stream ended before done");
  }
  return tracker.result();
}

/** One query over SSE with the `EventSource` global. */
export function sseEventSourceQuery(base: string): Promise<AnswerSample> {
  const tracker = new AnswerTracker(epochNow());
  return new Promise((resolve, reject) => {
    const es = new EventSource(sseUrl(base, sessionId("sse")));
    es.onmessage = (e) => {
      try {
        if (tracker.feed(e.data)) {
          es.close();
          resolve(tracker.result());
        }
      } catch (err) {
        es.close();
        reject(err);
      }
    };
    es.onerror = () => {
      es.close();
      reject(new Error("EventSource error before done"));
    };
  });
}

/** Runs one query over a transport; `reused` must be open for `ws-reused`. */
export function queryOnce(
  t: Transport,
  base: string,
  reused?: ReusedWs,
): Promise<AnswerSample> {
  switch (t) {
    case "ws-reused":
      return reused!.query();
    case "ws-new":
      return wsNewQuery(base);
    case "sse-fetch":
      return sseFetchQuery(base);
    case "sse-eventsource":
      return sseEventSourceQuery(base);
  }
}
