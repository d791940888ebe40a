/**
 * Producer leases and cross-instance following, on every stream log
 * backend (memory, Deno KV, a real redis-server): a reader of an answer
 * whose producer died gets `interrupted`; a live one is followed to its
 * end with wake-ups; a cancel from another instance stops the producer.
 * @module
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { ErrorCode } from "../protocol/codes.ts";
import type { Agent, AgentEvent } from "../server/agents/types.ts";
import { ChatCore } from "../server/core.ts";
import { delay } from "../server/delay.ts";
import { createLogger } from "../server/log.ts";
import { openKvBackend } from "../server/store/kv.ts";
import { openMemoryBackend } from "../server/store/memory.ts";
import { openRedisBackend } from "../server/store/redis.ts";
import type { Backend } from "../server/store/types.ts";
import { StreamHub } from "../server/streams/hub.ts";
import { collector } from "./helpers/collector.ts";
import { hasRedis, startRedis } from "./helpers/redis_server.ts";

const LEASE_MS = 300;
const OPTIONS = {
  graceMs: 5_000,
  flushMs: 5,
  cancelPollMs: 200,
  logPollMs: 5,
  tailWaitMs: 100,
  leaseMs: LEASE_MS,
  unknownWaitMs: 300,
};
const logger = createLogger("silent");
const settings = { window: 10, ttlMs: 60_000 };

const BACKENDS: { name: string; ignore?: boolean; open(): Promise<Backend> }[] = [
  { name: "memory", open: () => Promise.resolve(openMemoryBackend(settings)) },
  { name: "kv", open: () => openKvBackend(":memory:", settings) },
  {
    name: "redis",
    ignore: !hasRedis(),
    async open() {
      const server = await startRedis();
      const redis = await openRedisBackend(server.url, { ...settings, logger });
      return {
        ...redis,
        async close() {
          await redis.close();
          await server.stop();
        },
      };
    },
  },
];

/** Streams `chunks` numbered chunks, `ms` apart, honouring the abort signal. */
function countingAgent(chunks: number, ms = 2): Agent {
  return {
    name: "counting",
    async *stream(_request, { signal }): AsyncIterable<AgentEvent> {
      for (let i = 0; i < chunks; i++) {
        if (!await delay(ms, signal)) return;
        yield { type: "text-delta", delta: `${i} ` };
      }
    },
  };
}

function hubOver(backend: Backend, agent: Agent): StreamHub {
  const core = new ChatCore({ agent, store: backend.history, log: logger });
  return new StreamHub(core, backend.streamLog, logger, { ...OPTIONS });
}

for (const backend of BACKENDS) {
  Deno.test({
    name:
      `[${backend.name}] a dead producer's readers get the logged events, then interrupted; the partial turn is kept`,
    ignore: backend.ignore,
    async fn() {
      const opened = await backend.open();
      try {
        const log = opened.streamLog;
        // An instance began logging an answer, then died: its lease is never renewed.
        await log.renew("dead", LEASE_MS);
        await log.begin("dead", { sessionId: "s-dead", query: "the question" });
        await log.append("dead", [
          { seq: 0, event: { type: "start", requestId: "dead", sessionId: "s-dead" } },
          { seq: 1, event: { type: "text-delta", delta: "par" } },
          { seq: 2, event: { type: "text-delta", delta: "tial" } },
        ], false);
        const hub = hubOver(opened, countingAgent(1));
        const first = collector();
        const result = await hub.resume("dead", 0, first.subscriber, {
          signal: new AbortController().signal,
        });
        assertEquals(result, "resumed");
        assertEquals(first.items.map((i) => i.seq), [1, 2, 3]);
        const last = first.items.at(-1)!.event;
        assertEquals(last.type === "error" && last.code, ErrorCode.Interrupted);
        // A later resume gets the same end from the log, and history keeps the partial turn.
        const again = collector();
        await hub.resume("dead", -1, again.subscriber, { signal: new AbortController().signal });
        assertEquals(again.items.map((i) => i.seq), [0, 1, 2, 3]);
        // Counted once, by the reader that sealed it (chat_answers_interrupted_total).
        assertMatch(hub.telemetry.registry.render(), /^chat_answers_interrupted_total 1$/m);
        const turns = await opened.history.load("s-dead");
        assertEquals(
          turns.map((t) => [t.query, t.answer, t.finishReason]),
          [["the question", "partial", "interrupted"]],
        );
        // A late write of the dead producer changes nothing.
        await log.append("dead", [{ seq: 3, event: { type: "finish", reason: "stop" } }], true);
        const read = await log.read("dead", 2);
        assertEquals(read?.events.map((i) => i.event.type), ["error"]);
      } finally {
        await opened.close();
      }
    },
  });

  Deno.test({
    name:
      `[${backend.name}] an answer produced by one hub is followed by another to its end, and cancelled from it`,
    ignore: backend.ignore,
    async fn() {
      const opened = await backend.open();
      try {
        const chunks = 40;
        const producing = hubOver(opened, countingAgent(chunks));
        const following = hubOver(opened, countingAgent(1));
        const first = collector();
        const producer = producing.start(
          { query: "count", sessionId: "s-live", requestId: "live" },
          first.subscriber,
        );
        while (first.items.length < 5) await delay(1, new AbortController().signal);
        producer.unsubscribe(first.subscriber, true);
        const lastSeen = first.items.at(-1)!.seq;
        const second = collector();
        const result = await following.resume("live", lastSeen, second.subscriber, {
          signal: new AbortController().signal,
        });
        assertEquals(result, "resumed");
        await second.ended;
        const all = [...first.items, ...second.items];
        assertEquals(all.map((i) => i.seq), all.map((_, i) => i), "no gap and no duplicate");
        assertEquals(all.at(-1)?.event, { type: "finish", reason: "stop" });

        // Cancel across hubs: a long answer stops when the other hub asks.
        const third = collector();
        const long = hubOver(opened, countingAgent(100_000)).start(
          { query: "count", sessionId: "s-cancel", requestId: "long" },
          third.subscriber,
        );
        while (third.items.length < 3) await delay(1, new AbortController().signal);
        long.unsubscribe(third.subscriber, true);
        // Let the first batch reach the log before asking.
        while (!await opened.streamLog.read("long", -1)) {
          await delay(5, new AbortController().signal);
        }
        assert(await following.cancel("long"));
        await long.done;
        const read = await opened.streamLog.read("long", -1);
        assertEquals(read?.events.at(-1)?.event, { type: "finish", reason: "cancelled" });
      } finally {
        await opened.close();
      }
    },
  });
}
