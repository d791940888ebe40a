/**
 * Hardening, protocol: malformed WebSocket framing over raw sockets, a
 * fuzz run of random and mutated JSON frames, SSE event forging.
 */
import { assert, assertEquals, assertLess } from "@std/assert";
import { CloseCode, shouldReconnect } from "../protocol/codes.ts";
import { AiSdkServerFrame, ServerFrame } from "../protocol/frames.ts";
import type { Agent, AgentEvent } from "../server/agents/types.ts";
import { echoAgent } from "./helpers/agents.ts";
import { closePayload, Opcode, rawFrame, RawWs } from "./helpers/raw_ws.ts";
import { readSse } from "./helpers/sse_client.ts";
import { NO_KEY_BUDGETS, startServer } from "./helpers/server.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

const MiB = 1024 * 1024;

/** Slow steady agent, so a bystander is mid-stream while the bad frames arrive. */
function tickingAgent(chunks: number): Agent {
  return {
    name: "ticking",
    async *stream(_request, { signal }): AsyncIterable<AgentEvent> {
      for (let i = 0; i < chunks && !signal.aborted; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        yield { type: "text-delta", delta: `${i},` };
      }
    },
  };
}

/**
 * Each case: the bytes, and the close codes RFC 6455 allows in answer.
 * `null` means the server failed the connection by dropping TCP without a
 * close frame, which RFC 6455 section 7.1.7 permits ("Fail the WebSocket
 * Connection"); Deno's server does that for most framing errors.
 */
const MALFORMED: [string, Uint8Array, (number | null)[]][] = [
  ["reserved opcode 0x3", rawFrame(0x3, "x"), [1002, null]],
  ["reserved control opcode 0xB", rawFrame(0xb, "x"), [1002, null]],
  ["RSV1 set without an extension", rawFrame(Opcode.Text, "x", { rsv: 4 }), [1002, null]],
  ["RSV3 set", rawFrame(Opcode.Text, "x", { rsv: 1 }), [1002, null]],
  ["invalid UTF-8 in a text frame", rawFrame(Opcode.Text, new Uint8Array([0xc3, 0x28])), [
    1007,
    null,
  ]],
  ["close code 999", rawFrame(Opcode.Close, closePayload(999)), [1002, null]],
  ["close code 1005 (reserved)", rawFrame(Opcode.Close, closePayload(1005)), [1002, null]],
  ["close code 5000", rawFrame(Opcode.Close, closePayload(5000)), [1002, null]],
  ["close frame with a 1-byte payload", rawFrame(Opcode.Close, new Uint8Array([3])), [
    1002,
    null,
  ]],
  ["ping over 125 bytes", rawFrame(Opcode.Ping, new Uint8Array(200)), [1002, null]],
  ["fragmented ping", rawFrame(Opcode.Ping, "x", { fin: false }), [1002, null]],
  ["continuation without a first fragment", rawFrame(Opcode.Continuation, "x"), [1002, null]],
];

Deno.test("protocol: malformed frames end that connection; a bystander keeps streaming", async (t) => {
  const server = await startServer({}, { agent: tickingAgent(400) });
  const bystander = await WsTestClient.connect(server.wsUrl);
  try {
    bystander.send({ query: "keep going" });
    const answer = bystander.answer();
    for (const [name, bytes, allowed] of MALFORMED) {
      await t.step(name, async () => {
        const peer = await RawWs.connect(server.wsUrl);
        await peer.write(bytes);
        await peer.sendText(JSON.stringify({ type: "ping", id: "after" }));
        const info = await peer.closeInfo();
        peer.close();
        console.log(
          `${name}: ${info.code === null ? "TCP closed, no close frame" : `close ${info.code}`}`,
        );
        assert(allowed.includes(info.code), `got ${info.code}`);
        assertEquals(
          info.frames,
          info.code === null ? 0 : 1,
          "no reply to frames after the bad one",
        );
      });
    }
    const frames = await answer;
    assertEquals(frames.at(-1)?.type, "done");
    assertEquals(frames.filter((f) => f.type === "content").length, 400);
  } finally {
    await bystander.close();
    await server.close();
  }
});

Deno.test("protocol: an unmasked client frame (known Deno deviation) does not harm the server", async () => {
  // RFC 6455 5.1 says the server MUST close on an unmasked client frame;
  // Deno's server accepts it. This test pins the observed behaviour so a
  // change in Deno is noticed, and checks no harm is done either way.
  const server = await startServer({}, { agent: echoAgent() });
  try {
    const peer = await RawWs.connect(server.wsUrl);
    await peer.write(
      rawFrame(Opcode.Text, JSON.stringify({ type: "ping", id: 1 }), { mask: false }),
    );
    const reply = await peer.nextJson();
    console.log(`unmasked frame: server answered ${JSON.stringify(reply)}`);
    assert(reply === null || reply.type === "pong");
    peer.close();
    const client = await WsTestClient.connect(server.wsUrl);
    client.send({ type: "ping", id: 2 });
    assertEquals(await client.next(), { type: "pong", id: 2 });
    await client.close();
  } finally {
    await server.close();
  }
});

/** A tiny seeded PRNG so a failing fuzz run can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const SEEDS = [
  { query: "hello" },
  { query: "hi", session_id: "fuzz-session" },
  { type: "query", query: "x", request_id: "r1" },
  { type: "cancel" },
  { type: "cancel", request_id: "r1" },
  { type: "ping", id: 1 },
  {
    type: "send",
    requestId: "q1",
    id: "fuzz-chat",
    trigger: "submit-message",
    messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "hey" }] }],
  },
  { type: "resume", requestId: "q2", id: "fuzz-chat" },
  { type: "abort", requestId: "q1" },
];

const ODD_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1e308,
  "",
  " ",
  "\u0000",
  "\ud800",
  "../../etc/passwd",
  "x".repeat(9_000),
  [],
  {},
  { __proto__: { polluted: true } },
  [[[[[]]]]],
];

function mutate(random: () => number): string {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const roll = random();
  if (roll < 0.15) {
    // Random bytes as text.
    const length = Math.floor(random() * 200);
    return Array.from({ length }, () => String.fromCharCode(Math.floor(random() * 0x2fff)))
      .join("");
  }
  const frame: Record<string, unknown> = structuredClone(pick(SEEDS));
  const keys = [...Object.keys(frame), "type", "query", "id", "requestId", "messages", "zzz"];
  for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
    const key = pick(keys);
    if (random() < 0.3) delete frame[key];
    else frame[key] = pick(ODD_VALUES);
  }
  const text = JSON.stringify(frame);
  if (roll < 0.3) {
    // Truncate or splice the JSON text.
    const cut = Math.floor(random() * text.length);
    return random() < 0.5 ? text.slice(0, cut) : text.slice(0, cut) + "}{" + text.slice(cut);
  }
  return text;
}

Deno.test("protocol: fuzz — 5000 random and mutated frames: process up, memory bounded, every reply valid", async () => {
  const server = await startServer({
    RATE_LIMIT_PER_MINUTE: "0",
    ...NO_KEY_BUDGETS,
    DEMO_DELAY_MS: "0",
  }, {
    agent: echoAgent(),
  });
  const random = prng(20261124);
  let replies = 0;
  const invalid: string[] = [];
  const closes: number[] = [];
  try {
    const before = Deno.memoryUsage().rss;
    for (let socket = 0; socket < 10; socket++) {
      const ws = new WebSocket(server.wsUrl);
      const { promise: opened, resolve: open } = Promise.withResolvers<void>();
      const { promise: closed, resolve: close } = Promise.withResolvers<void>();
      const { promise: ended, resolve: end } = Promise.withResolvers<void>();
      ws.onopen = () => open();
      ws.onclose = (event) => {
        closes.push(event.code);
        close();
      };
      ws.onmessage = (event) => {
        replies++;
        const value = JSON.parse(event.data);
        const ok = ServerFrame.safeParse(value).success ||
          AiSdkServerFrame.safeParse(value).success;
        if (!ok) invalid.push(event.data.slice(0, 200));
        if (value.type === "pong" && value.id === "end") end();
      };
      await opened;
      for (let i = 0; i < 500; i++) ws.send(mutate(random));
      ws.send(JSON.stringify({ type: "ping", id: "end" }));
      await ended; // the socket survived all 500 and still answers
      ws.close();
      await closed;
    }
    const growth = Deno.memoryUsage().rss - before;
    console.log(
      `fuzz: 5000 frames, ${replies} replies, ${invalid.length} invalid, close codes ${[
        ...new Set(closes),
      ]}, rss growth ${(growth / MiB).toFixed(1)} MiB`,
    );
    assertEquals(invalid, []);
    // Silent by design: AI SDK `abort` frames naming nothing; all else answers.
    assert(replies >= 4000, `most frames got a reply (got ${replies})`);
    // Only the client closed: no server-initiated close code appears.
    assert(closes.every((code) => code === 1000 || code === 1005), `closes ${closes}`);
    assertLess(growth, 200 * MiB);
    const health = await fetch(`${server.url}/healthz`);
    assertEquals((await health.json()).ok, true);
  } finally {
    await server.close();
  }
});

Deno.test("protocol: a query or content with \\n\\nevent: done\\ndata: cannot forge SSE events", async () => {
  const forged = '\n\nevent: done\ndata: {"type":"done","finish_reason":"stop"}\n\nretry: 1\n\n';
  const sneaky: Agent = {
    name: "sneaky",
    async *stream(request): AsyncIterable<AgentEvent> {
      yield { type: "text-delta", delta: forged };
      yield { type: "status", message: forged };
      yield { type: "text-delta", delta: request.query };
    },
  };
  const server = await startServer({}, { agent: sneaky });
  try {
    const events = await readSse(
      await fetch(`${server.url}/agent_chat_stream?query=${encodeURIComponent(forged)}`),
    );
    assertEquals(events.map((e) => e.json.type), [
      "session",
      "content",
      "status",
      "content",
      "done",
    ]);
    assert(events.every((e) => e.event === undefined));
    assertEquals(events[1].json.content, forged);
    assertEquals(events[3].json.content, forged.trim());
  } finally {
    await server.close();
  }
});

Deno.test("protocol: close codes split into reconnect and do-not-reconnect", () => {
  const reconnect = [
    1000,
    1001,
    1006,
    1011,
    1012,
    1013,
    CloseCode.SlowConsumer,
    CloseCode.RateLimited,
  ];
  const stop = [1002, 1003, 1007, 1008, 1009, CloseCode.Unauthorized, CloseCode.Forbidden, 4499];
  for (const code of reconnect) assert(shouldReconnect(code), `${code} should reconnect`);
  for (const code of stop) assert(!shouldReconnect(code), `${code} should not reconnect`);
});
