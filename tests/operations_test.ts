/**
 * What an operator relies on, against a real server: `/metrics` (guarded
 * by METRICS_TOKEN or served on METRICS_PORT), `/healthz` and `/readyz`,
 * JSON log lines with ids, one error shape, `.env` read by `deno task
 * start`, and a busy port said plainly.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotMatch,
  assertStringIncludes,
} from "@std/assert";
import { loadConfig } from "../server/config.ts";
import { startServer } from "./helpers/server.ts";
import { readSse } from "./helpers/sse_client.ts";
import { RUNTIMES } from "./helpers/runtimes.ts";
import { BUN } from "./helpers/runtimes.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

const METRICS_TOKEN = "metrics-token-0123456789";
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const ROOT = new URL("../", import.meta.url).pathname;

/** One WS answer and one SSE answer, to the end. */
async function answerOnBoth(server: { url: string; wsUrl: string }): Promise<void> {
  const client = await WsTestClient.connect(server.wsUrl);
  client.send({ query: "hello", session_id: "ops-ws" });
  assertEquals((await client.answer()).at(-1)!.type, "done");
  await client.close();
  const events = await readSse(await fetch(`${server.url}/agent_chat_stream?query=hi`));
  assertEquals(events.at(-1)!.json.type, "done");
}

/** Reads `/metrics` until `pattern` shows (the server counts a close after the client saw it). */
async function metricsMatching(url: string, init: RequestInit, pattern: RegExp): Promise<string> {
  while (true) {
    const response = await fetch(url, init);
    assertEquals(response.status, 200);
    assertStringIncludes(response.headers.get("content-type")!, "text/plain; version=0.0.4");
    const text = await response.text();
    if (pattern.test(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("/metrics is not served on the public port by default", async () => {
  const server = await startServer();
  try {
    const response = await fetch(`${server.url}/metrics`);
    await response.body?.cancel();
    assertEquals(response.status, 404);
  } finally {
    await server.close();
  }
});

Deno.test("/metrics with METRICS_TOKEN: 401 without the bearer, Prometheus text of real answers with it", async () => {
  const server = await startServer({ METRICS_TOKEN });
  try {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: "Bearer wrong-token-0123456789" },
    ];
    for (const headers of attempts) {
      const refused = await fetch(`${server.url}/metrics`, { headers });
      assertEquals(refused.status, 401);
      const body = await refused.json();
      assertEquals(body.error.code, "unauthorized");
      assertStringIncludes(body.error.message, "METRICS_TOKEN");
    }
    await answerOnBoth(server);
    const text = await metricsMatching(
      `${server.url}/metrics`,
      { headers: { authorization: `Bearer ${METRICS_TOKEN}` } },
      /chat_connections_open\{transport="sse"\} 0/,
    );
    console.log(text);
    assertMatch(text, /^chat_answers_started_total\{transport="ws",dialect="native"\} 1$/m);
    assertMatch(text, /^chat_answers_started_total\{transport="sse",dialect="native"\} 1$/m);
    assertMatch(text, /^chat_answers_finished_total\{transport="ws",reason="stop"\} 1$/m);
    assertMatch(text, /^chat_answers_finished_total\{transport="sse",reason="stop"\} 1$/m);
    assertMatch(text, /^chat_chunks_sent_total\{transport="ws"\} [1-9]\d*$/m);
    assertMatch(text, /^chat_time_to_first_chunk_seconds_count\{transport="sse"\} 1$/m);
    assertMatch(text, /^chat_answer_duration_seconds_bucket\{transport="ws",le="\+Inf"\} 1$/m);
    assertMatch(text, /^chat_connections_open\{transport="ws"\} 0$/m);
    assertMatch(
      text,
      /^chat_store_operation_seconds_count\{operation="history.append",outcome="ok"\} 2$/m,
    );
    assertMatch(text, /^# TYPE chat_connections_open gauge$/m);
    assertMatch(text, /^# HELP chat_answers_interrupted_total /m);
  } finally {
    await server.close();
  }
});

Deno.test("/metrics on METRICS_PORT: its own listener; the public port does not serve it", async () => {
  const server = await startServer({ METRICS_PORT: "0" });
  try {
    assert(server.metricsUrl, "the metrics listener is up");
    assert(server.metricsUrl !== server.url);
    const publicPort = await fetch(`${server.url}/metrics`);
    await publicPort.body?.cancel();
    assertEquals(publicPort.status, 404);
    // A refused origin is counted by reason.
    const refused = await fetch(`${server.url}/agent_chat_stream?query=x`, {
      headers: { origin: "https://evil.example" },
    });
    await refused.body?.cancel();
    const text = await metricsMatching(
      `${server.metricsUrl}/metrics`,
      {},
      /chat_refusals_total/,
    );
    assertMatch(text, /^chat_refusals_total\{transport="sse",reason="forbidden"\} 1$/m);
  } finally {
    await server.close();
  }
});

Deno.test("/healthz is 200; /readyz is 200, then 503 while draining", async () => {
  const server = await startServer({
    AGENT: "synthetic",
    SYNTHETIC_CHUNKS: "100000",
    SYNTHETIC_INTERVAL_MS: "10",
    SHUTDOWN_TIMEOUT_MS: "2000",
  });
  let closing: Promise<void> | undefined;
  try {
    assertEquals((await (await fetch(`${server.url}/healthz`)).json()).ok, true);
    const ready = await fetch(`${server.url}/readyz`);
    assertEquals(ready.status, 200);
    assertEquals((await ready.json()).ready, true);
    const client = await WsTestClient.connect(server.wsUrl);
    client.send({ query: "stream", session_id: "ops-drain" });
    await client.until((frame) => frame.type === "content");
    closing = server.close();
    const draining = await fetch(`${server.url}/readyz`);
    assertEquals(draining.status, 503);
    assertEquals(await draining.json(), { ready: false, reason: "draining" });
    await client.closed();
  } finally {
    await (closing ?? server.close());
  }
});

Deno.test("shutdown log: open connections drained, none terminated; the hub's answers are not counted", async () => {
  const lines: string[] = [];
  const server = await startServer({ LOG_LEVEL: "info" }, { writeLog: (line) => lines.push(line) });
  let client: WsTestClient | undefined;
  try {
    client = await WsTestClient.connect(server.wsUrl);
    client.send({ query: "hello", session_id: "ops-drain-log" });
    assertEquals((await client.answer()).at(-1)!.type, "done");
  } finally {
    await server.close();
  }
  assertEquals((await client.closed()).code, 1012);
  const drained = lines.map((line) => JSON.parse(line)).filter((entry) =>
    entry.msg === "Drained connections"
  );
  assertEquals(drained.map(({ drained, terminated }) => ({ drained, terminated })), [
    { drained: 1, terminated: 0 },
  ]);
});

Deno.test("logs: JSON lines with level, msg and ids; debug says something; no token or query text", async () => {
  const lines: string[] = [];
  const token = "ops-secret-token-0123456789";
  const query = "What is the UNIQUE-QUERY-MARKER";
  const server = await startServer(
    { LOG_LEVEL: "debug", AUTH_TOKENS: `ops:${token}` },
    { writeLog: (line) => lines.push(line) },
  );
  try {
    const client = await WsTestClient.connect(server.wsUrl, {
      headers: { authorization: `Bearer ${token}`, traceparent: TRACEPARENT },
    });
    client.send({ query, session_id: "ops-logs", request_id: "ops-log-1" });
    assertEquals((await client.answer()).at(-1)!.type, "done");
    await client.close();
  } finally {
    await server.close();
  }
  const parsed = lines.map((line) => JSON.parse(line));
  for (const entry of parsed) {
    assert(["debug", "info", "warn", "error"].includes(entry.level), JSON.stringify(entry));
    assertEquals(typeof entry.msg, "string");
    assertMatch(entry.time, /^\d{4}-\d\d-\d\dT/);
  }
  const access = parsed.find((entry) => entry.msg === "Answer");
  assert(access, "an access line per answer");
  assertEquals(access.level, "info");
  assertEquals(access.request_id, "ops-log-1");
  assertEquals(access.session_id, "ops-logs");
  assertEquals(access.trace_id, TRACE_ID);
  assertEquals(access.transport, "ws");
  assertEquals(access.reason, "stop");
  assert(access.chunks > 0 && access.duration_ms >= 0);
  const debug = parsed.filter((entry) => entry.level === "debug").map((entry) => entry.msg);
  for (const msg of ["WebSocket open", "Answer started", "WebSocket closed"]) {
    assert(debug.includes(msg), `debug has "${msg}": ${debug.join(", ")}`);
  }
  const all = lines.join("\n");
  assertNotMatch(all, /UNIQUE-QUERY-MARKER/);
  assertNotMatch(all, new RegExp(token));
});

Deno.test("logs: LOG_LEVEL takes debug, info, warn, error and silent; info has no debug lines", async () => {
  for (const level of ["debug", "info", "warn", "error", "silent"]) {
    assertEquals(loadConfig({ LOG_LEVEL: level }).LOG_LEVEL, level);
  }
  const lines: string[] = [];
  const server = await startServer({ LOG_LEVEL: "info" }, { writeLog: (l) => lines.push(l) });
  try {
    const client = await WsTestClient.connect(server.wsUrl);
    client.send({ query: "hello" });
    await client.answer();
    await client.close();
  } finally {
    await server.close();
  }
  const levels = new Set(lines.map((line) => JSON.parse(line).level));
  assertEquals(levels.has("debug"), false);
  assert(levels.has("info"));
});

Deno.test("errors: one JSON shape; the 403 names ALLOWED_ORIGINS", async () => {
  const server = await startServer();
  try {
    const forbidden = await fetch(`${server.url}/agent_chat_stream?query=x`, {
      headers: { origin: "https://evil.example" },
    });
    assertEquals(forbidden.status, 403);
    const body = await forbidden.json();
    assertEquals(body.error.code, "forbidden");
    assertStringIncludes(body.error.message, "ALLOWED_ORIGINS");
    const plain = await fetch(`${server.url}/ws/chat`);
    assertEquals(plain.status, 426);
    const upgrade = await plain.json();
    assertEquals(Object.keys(upgrade), ["error"]);
    assertEquals(upgrade.error.code, "upgrade_required");
    const missing = await fetch(`${server.url}/no-such-page`);
    assertEquals(missing.status, 404);
    assertEquals((await missing.json()).error.code, "not_found");
  } finally {
    await server.close();
  }
});

/** Runs `deno task start`'s command (main.ts by absolute path) in `cwd`; returns the Listening line's URL. */
async function startTaskIn(cwd: string, env: Record<string, string>): Promise<string> {
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const [deno, ...args] = (denoJson.tasks.start as string).split(/\s+/);
  assertEquals(deno, "deno");
  const child = new Deno.Command(Deno.execPath(), {
    args: args.map((arg) => arg === "main.ts" ? `${ROOT}main.ts` : arg),
    cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  try {
    while (!/Listening on .*\n/.test(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
  } finally {
    child.kill("SIGTERM");
    await reader.cancel();
  }
  await child.status;
  const stderr = await errors;
  if (!/Listening/.test(out)) throw new Error(`No Listening line: ${stderr}`);
  return out;
}

Deno.test("start-up: `deno task start` reads .env, and the environment wins over it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/.env`,
      "PORT=0\nHOST=127.0.0.1\nKV_PATH=:memory:\nAGENT=synthetic\nLOG_LEVEL=silent\n",
    );
    const path = Deno.env.get("PATH") ?? "";
    const fromFile = await startTaskIn(dir, { PATH: path, HOME: dir });
    assertMatch(fromFile, /^Listening on http:\/\/127\.0\.0\.1:\d+\/ \(agent: synthetic\)$/m);
    const overridden = await startTaskIn(dir, { PATH: path, HOME: dir, AGENT: "demo" });
    assertMatch(overridden, /\(agent: demo\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const { runtime, ignore } of RUNTIMES) {
  Deno.test({
    name: `start-up on ${runtime}: a busy port names the port and how to pick another`,
    ignore,
    async fn() {
      const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (busy.addr as Deno.NetAddr).port;
      try {
        const [cmd, args] = runtime === "deno"
          ? [Deno.execPath(), ["run", "-A", "main.ts"]]
          : [BUN, ["bun.ts"]];
        const { code, stderr } = await new Deno.Command(cmd, {
          args,
          cwd: ROOT,
          env: { PORT: String(port), HOST: "127.0.0.1", KV_PATH: ":memory:", LOG_LEVEL: "error" },
          stdout: "null",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(stderr);
        assertEquals(code, 1, text);
        assertStringIncludes(text, `Cannot listen on 127.0.0.1:${port}: the port is in use`);
        assertStringIncludes(
          text,
          `PORT=${port + 1} ${runtime === "deno" ? "deno task start" : "bun run start:bun"}`,
        );
        assertNotMatch(text, /^\s+at /m, "no stack trace");
      } finally {
        busy.close();
      }
    },
  });
}
