/**
 * The raw baseline: the physical limit our stack is measured against.
 *
 * No framework, no validation library, no store: plain `Deno.serve` +
 * `Deno.upgradeWebSocket` (or `Bun.serve` under Bun) and a plain SSE
 * `ReadableStream`, emitting byte-for-byte the same frames as our server
 * (`session`, N × `content` with `ts` and `seq`, `done`).
 *
 * Configured by the same environment as `main.ts`: `PORT`, `HOST`,
 * `SYNTHETIC_CHUNKS`, `SYNTHETIC_CHUNK_BYTES`, `SYNTHETIC_INTERVAL_MS`;
 * plus `TLS_CERT_FILE`/`TLS_KEY_FILE` to serve HTTPS (HTTP/2 via ALPN) for
 * the browser test. Prints `Listening on <url>/` when ready and exits when
 * its stdin closes, so it never outlives the bench that spawned it.
 *
 * Run: `deno run -A bench/raw_server.ts` or `bun bench/raw_server.ts`.
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { SSE_PATH, WS_PATH } from "../protocol/codes.ts";

const env = process.env;
const PORT = Number(env.PORT ?? 8001);
const HOST = env.HOST ?? "127.0.0.1";
const CHUNKS = Number(env.SYNTHETIC_CHUNKS ?? 100);
const CHUNK_BYTES = Number(env.SYNTHETIC_CHUNK_BYTES ?? 16);
const INTERVAL = Number(env.SYNTHETIC_INTERVAL_MS ?? 0);
const RETRY_MS = Number(env.SSE_RETRY_MS ?? 3000);
const CERT = env.TLS_CERT_FILE;
const KEY = env.TLS_KEY_FILE;

const CONTENT = JSON.stringify("x".repeat(CHUNK_BYTES));
const ID_OK = /^[A-Za-z0-9_-]{1,64}$/;
let requests = 0;

/** Emits one answer through `send`; `end` runs after `done`. */
function answer(
  session: string,
  send: (json: string, rid: string, seq: number) => void,
  isOpen: () => boolean,
  end: () => void,
): void {
  const rid = crypto.randomUUID();
  const tail = `,"request_id":"${rid}","seq":`;
  send(`{"type":"session","session_id":"${session}"${tail}0}`, rid, 0);
  const content = (seq: number) =>
    `{"type":"content","content":${CONTENT},"ts":${
      performance.timeOrigin + performance.now()
    }${tail}${seq}}`;
  const finish = () => {
    send(
      `{"type":"done","finish_reason":"stop"${tail}${CHUNKS + 1}}`,
      rid,
      CHUNKS + 1,
    );
    end();
  };
  if (INTERVAL <= 0) {
    for (let seq = 1; seq <= CHUNKS; seq++) send(content(seq), rid, seq);
    finish();
    return;
  }
  // Like the synthetic agent: first chunk at once, then one per interval.
  let seq = 0;
  const tick = () => {
    if (!isOpen()) return;
    if (++seq > CHUNKS) return finish();
    send(content(seq), rid, seq);
    if (seq < CHUNKS) setTimeout(tick, INTERVAL);
    else tick();
  };
  tick();
}

function sessionOf(value: unknown): string {
  return typeof value === "string" && ID_OK.test(value) ? value : `s${(++requests).toString(36)}`;
}

const encoder = new TextEncoder();
const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "access-control-allow-origin": "*",
};

function sseResponse(url: URL): Response {
  const session = sessionOf(url.searchParams.get("session_id"));
  let open = true;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let prefix = `retry: ${RETRY_MS}\n`;
      answer(
        session,
        (json, rid, seq) => {
          controller.enqueue(
            encoder.encode(`${prefix}id: ${rid}:${seq}\ndata: ${json}\n\n`),
          );
          prefix = "";
        },
        () => open,
        () => controller.close(),
      );
    },
    cancel() {
      open = false;
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
}

const PAGE = "<!doctype html><meta charset=utf-8><title>raw</title><p>raw baseline</p>";

function page(): Response {
  return new Response(PAGE, { headers: { "content-type": "text/html" } });
}

function onQuery(text: string, ws: { send(s: string): void }, state: {
  busy: boolean;
  open: boolean;
}) {
  let q: { query?: unknown; session_id?: unknown };
  try {
    q = JSON.parse(text);
  } catch {
    ws.send(`{"type":"error","code":"invalid_json","message":"bad json"}`);
    return;
  }
  if (state.busy) {
    ws.send(`{"type":"error","code":"busy","message":"busy"}`);
    return;
  }
  state.busy = true;
  answer(
    sessionOf(q.session_id),
    (s) => ws.send(s),
    () => state.open,
    () => state.busy = false,
  );
}

function listening(proto: string, port: number) {
  console.log(`Listening on ${proto}://${HOST}:${port}/`);
}

interface BunWs {
  send(s: string): void;
  data: { busy: boolean; open: boolean };
}
interface BunApi {
  serve(o: unknown): { port: number };
}

if ("Bun" in globalThis) {
  const Bun = (globalThis as unknown as { Bun: BunApi }).Bun;
  const server = Bun.serve({
    port: PORT,
    hostname: HOST,
    tls: CERT && KEY ? { cert: readFileSync(CERT), key: readFileSync(KEY) } : undefined,
    fetch(
      req: Request,
      srv: { upgrade(r: Request, o: unknown): boolean },
    ) {
      const url = new URL(req.url);
      if (url.pathname === WS_PATH) {
        if (srv.upgrade(req, { data: { busy: false, open: true } })) {
          return undefined;
        }
        return new Response("Expected a WebSocket upgrade request", {
          status: 426,
        });
      }
      if (url.pathname === SSE_PATH) return sseResponse(url);
      return page();
    },
    websocket: {
      message(ws: BunWs, msg: string | Uint8Array) {
        onQuery(String(msg), ws, ws.data);
      },
      close(ws: BunWs) {
        ws.data.open = false;
      },
    },
  });
  listening(CERT ? "https" : "http", server.port);
} else {
  const handler = (req: Request): Response => {
    const url = new URL(req.url);
    if (url.pathname === WS_PATH) {
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("Expected a WebSocket upgrade request", {
          status: 426,
        });
      }
      const { socket, response } = Deno.upgradeWebSocket(req);
      const state = { busy: false, open: true };
      socket.onmessage = (e) => onQuery(String(e.data), socket, state);
      socket.onclose = () => state.open = false;
      socket.onerror = () => state.open = false;
      return response;
    }
    if (url.pathname === SSE_PATH) return sseResponse(url);
    return page();
  };
  const tls = CERT && KEY
    ? { cert: readFileSync(CERT, "utf8"), key: readFileSync(KEY, "utf8") }
    : {};
  Deno.serve({
    port: PORT,
    hostname: HOST,
    ...tls,
    onListen: ({ port }) => listening(CERT ? "https" : "http", port),
  }, handler);
}

// Exit when the parent closes our stdin (or dies).
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
// A stop signal exits normally, so a `--cpu-prof` profile is written (`bench/profile.ts --server raw`).
process.on("SIGTERM", () => process.exit(0));
