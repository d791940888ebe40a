import { assert, assertEquals } from "@std/assert";
import type { Agent, AgentEvent } from "../server/agents/types.ts";
import { ChatCore } from "../server/core.ts";
import { delay } from "../server/delay.ts";
import { createLogger } from "../server/log.ts";
import { KvSessionStore } from "../server/store/kv.ts";
import { StreamHub } from "../server/streams/hub.ts";
import { LOG_ATTEMPTS } from "../server/streams/log_retry.ts";
import { KvStreamLog } from "../server/store/kv.ts";
import type { LoggedEvent } from "../server/store/types.ts";
import { collector } from "./helpers/collector.ts";
import { faultyLog } from "./helpers/faulty_log.ts";

const OPTIONS = {
  graceMs: 5_000,
  flushMs: 5,
  cancelPollMs: 10,
  logPollMs: 5,
  tailWaitMs: 50,
  leaseMs: 2_000,
  unknownWaitMs: 500,
};

/** Streams `chunks` numbered chunks, 1 ms apart, honouring the abort signal. */
function countingAgent(chunks: number): Agent {
  return {
    name: "counting",
    async *stream(_request, { signal }): AsyncIterable<AgentEvent> {
      for (let i = 0; i < chunks; i++) {
        if (!await delay(1, signal)) return;
        yield { type: "text-delta", delta: `${i} ` };
      }
    },
  };
}

async function setup(agent: Agent, kv?: Deno.Kv) {
  const db = kv ?? await Deno.openKv(":memory:");
  const store = new KvSessionStore(db, { window: 10 });
  const logger = createLogger("silent");
  const core = new ChatCore({ agent, store, log: logger });
  const log = new KvStreamLog(db, { ttlMs: 60_000 });
  return { db, hub: new StreamHub(core, log, logger, { ...OPTIONS }), log };
}

function assertComplete(items: LoggedEvent[], chunks: number) {
  assertEquals(items.map((i) => i.seq), items.map((_, i) => i), "no gap and no duplicate");
  const text = items.map((i) => i.event.type === "text-delta" ? i.event.delta : "").join("");
  assertEquals(text, Array.from({ length: chunks }, (_, i) => `${i} `).join(""));
  assertEquals(items.at(-1)?.event, { type: "finish", reason: "stop" });
}

Deno.test("resume after a drop at a random point delivers every event exactly once", async () => {
  const chunks = 60;
  const { db, hub } = await setup(countingAgent(chunks));
  try {
    for (let iteration = 0; iteration < 15; iteration++) {
      const first = collector();
      const requestId = `req-${iteration}`;
      const producer = hub.start({ query: "count", sessionId: "s", requestId }, first.subscriber);
      const dropAt = 1 + Math.floor(Math.random() * chunks);
      while (first.items.length < dropAt && !producer.ended) {
        await delay(1, new AbortController().signal);
      }
      producer.unsubscribe(first.subscriber, true);
      const lastSeen = first.items.at(-1)?.seq ?? -1;
      const second = collector();
      const abort = new AbortController();
      const resumed = await hub.resume(requestId, lastSeen, second.subscriber, {
        signal: abort.signal,
      });
      assertEquals(resumed, "resumed");
      await second.ended;
      assertComplete([...first.items, ...second.items], chunks);
    }
  } finally {
    db.close();
  }
});

Deno.test("an answer with no subscriber is cancelled when the grace period passes", async () => {
  const { db, hub, log } = await setup(countingAgent(100_000));
  try {
    const first = collector();
    hub.options.graceMs = 20;
    const producer = hub.start(
      { query: "q", sessionId: "s", requestId: "grace" },
      first.subscriber,
    );
    while (first.items.length < 3) await delay(1, new AbortController().signal);
    producer.unsubscribe(first.subscriber, true);
    await producer.done;
    const read = await log.read("grace", -1);
    assertEquals(read?.ended, true);
    assertEquals(read?.events.at(-1)?.event, { type: "finish", reason: "cancelled" });
  } finally {
    db.close();
  }
});

Deno.test("another hub on the same KV resumes from the log and cancels the producer", async () => {
  const db = await Deno.openKv(":memory:");
  const a = await setup(countingAgent(100_000), db);
  const b = await setup(countingAgent(0), db);
  try {
    const first = collector();
    const producer = a.hub.start(
      { query: "q", sessionId: "s", requestId: "shared" },
      first.subscriber,
    );
    while (first.items.length < 5) await delay(1, new AbortController().signal);
    producer.unsubscribe(first.subscriber, true);
    const lastSeen = first.items.at(-1)!.seq;
    const second = collector();
    const resuming = b.hub.resume("shared", lastSeen, second.subscriber, {
      signal: new AbortController().signal,
    });
    while (second.items.length < 5) await delay(1, new AbortController().signal);
    assert(await b.hub.cancel("shared"));
    await producer.done;
    assertEquals(await resuming, "resumed");
    await second.ended;
    const all = [...first.items, ...second.items];
    assertEquals(all.map((i) => i.seq), all.map((_, i) => i));
    assertEquals(all.at(-1)?.event, { type: "finish", reason: "cancelled" });
  } finally {
    db.close();
  }
});

Deno.test("a log write that fails for a moment is tried again: the reader elsewhere gets the whole answer", async () => {
  const db = await Deno.openKv(":memory:");
  const a = await setup(countingAgent(300), db);
  const b = await setup(countingAgent(0), db);
  // Every write of the producing instance fails but for its last try (a busy store).
  const busy = new Error("Cannot commit: the store is busy");
  const flaky = faultyLog(a.log, {
    begin: (attempt) => attempt < LOG_ATTEMPTS ? busy : undefined,
    append: (_events, attempt) => attempt < LOG_ATTEMPTS ? busy : undefined,
  });
  const hub = new StreamHub(a.hub.core, flaky.log, a.hub.logger, { ...OPTIONS });
  try {
    const first = collector();
    const producer = hub.start(
      { query: "q", sessionId: "s", requestId: "flaky" },
      first.subscriber,
    );
    while (first.items.length < 5) await delay(1, new AbortController().signal);
    producer.unsubscribe(first.subscriber, true);
    const lastSeen = first.items.at(-1)!.seq;
    const second = collector();
    const resumed = await b.hub.resume("flaky", lastSeen, second.subscriber, {
      signal: new AbortController().signal,
    });
    await producer.done;
    assertEquals(resumed, "resumed");
    assertComplete([...first.items, ...second.items], 300);
    assertEquals(flaky.begins.get("flaky"), LOG_ATTEMPTS);
    assert(flaky.appends.size > 0);
    for (const attempts of flaky.appends.values()) assertEquals(attempts, LOG_ATTEMPTS);
  } finally {
    db.close();
  }
});

Deno.test("a subscriber that leaves on purpose cancels the answer at once, unlogged", async () => {
  const { db, hub, log } = await setup(countingAgent(100_000));
  try {
    const first = collector();
    const producer = hub.start({ query: "q", sessionId: "s", requestId: "gone" }, first.subscriber);
    while (first.items.length < 3) await delay(1, new AbortController().signal);
    producer.unsubscribe(first.subscriber, false);
    await producer.done;
    assertEquals(producer.events.at(-1), { type: "finish", reason: "cancelled" });
    assertEquals(await log.read("gone", -1), undefined, "never orphaned, so never logged");
    assertEquals(hub.local("gone"), undefined);
  } finally {
    db.close();
  }
});

Deno.test("resume checks identity and reports unknown answers", async () => {
  const { db, hub } = await setup(countingAgent(100_000));
  try {
    const first = collector();
    const producer = hub.start(
      { query: "q", sessionId: "s", requestId: "mine" },
      first.subscriber,
      "alice",
    );
    const signal = new AbortController().signal;
    const other = collector();
    assertEquals(
      await hub.resume("mine", -1, other.subscriber, { signal, identity: "bob" }),
      "forbidden",
    );
    assertEquals(await hub.cancel("mine", "bob"), false);
    assertEquals(await hub.resume("nope", -1, other.subscriber, { signal }), "unknown");
    assertEquals(other.items, []);
    assertEquals(await hub.cancel("mine", "alice"), true);
    await producer.done;
  } finally {
    db.close();
  }
});
