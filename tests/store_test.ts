import {
  assert,
  assertEquals,
  assertLess,
  assertNotEquals,
  assertStringIncludes,
} from "@std/assert";
import { fitTurn, splitBatches } from "../server/store/fit.ts";
import type { LoggedEvent } from "../server/store/types.ts";
import { KvSessionStore, openKvBackend } from "../server/store/kv.ts";
import { MemoryStreamLog } from "../server/store/memory.ts";
import { turnBytes } from "../server/store/retention.ts";
import { delay } from "../server/delay.ts";
import { turn } from "./helpers/store_contracts.ts";
import { startServer } from "./helpers/server.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

Deno.test("a turn's stored size is the UTF-8 length of its JSON, however long or wide", () => {
  const utf8 = (text: string) => new TextEncoder().encode(text).length;
  const texts = [
    "",
    JSON.stringify({ answer: "x".repeat(3200) }),
    "caf\u00e9 \u20ac \u{1f600}",
    "lone \ud800 surrogate",
    // Longer than the buffer it is counted in (64 KiB): 2 and 4 bytes a character.
    "\u00e9".repeat(40_000),
    "\u{1f600}".repeat(20_000),
  ];
  for (const text of texts) assertEquals(turnBytes(text), utf8(text), text.slice(0, 20));
});

Deno.test("history survives closing and reopening the KV store", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  try {
    const first = await KvSessionStore.open(path, { window: 10 });
    await first.append("s1", turn("one"));
    await first.append("s1", turn("two"));
    await first.append("other", turn("elsewhere"));
    first.close();
    const second = await KvSessionStore.open(path, { window: 10 });
    const history = await second.load("s1");
    second.close();
    assertEquals(history.map((t) => t.query), ["one", "two"]);
    assertEquals(history[1].answer, "answer to two");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two instances appending to one session over one KV file keep every turn in order", async () => {
  // Neither instance may trust a turn counter it read or wrote before: the
  // other's appends and truncations move it.
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  const a = await KvSessionStore.open(path, { window: 10 });
  const b = await KvSessionStore.open(path, { window: 10 });
  try {
    await a.append("s1", turn("one"));
    await b.append("s1", turn("two"));
    await a.append("s1", turn("three"));
    await a.truncate("s1", 1);
    await b.append("s1", turn("four"));
    await a.append("s1", turn("five"));
    assertEquals((await b.load("s1")).map((t) => t.query), ["one", "four", "five"]);
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("history and budget writes wait out another writer's lock on a shared KV file", async () => {
  // Processes (here: connections) sharing a KV file take its write lock in
  // turn, and KV fails at once with "database is locked" while another holds
  // it: every write must wait its turn rather than lose a turn or a budget.
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  const stores = [
    await openKvBackend(path, { window: 20, ttlMs: 60_000 }),
    await openKvBackend(path, { window: 20, ttlMs: 60_000 }),
  ];
  const busy = await Deno.openKv(path);
  let writing = true;
  const noise = (async () => {
    for (let i = 0; writing; i++) {
      await busy.set(["noise", i % 50], "x".repeat(2_000)).catch(() => {});
      if (i % 4 === 3) await delay(1);
    }
  })();
  const failures: string[] = [];
  try {
    await Promise.all(stores.map(async (store, k) => {
      for (let i = 0; i < 100; i++) {
        await store.history.append(`s${k}`, turn(`q${i}`)).catch((e) => failures.push(`${e}`));
        await store.quotas.take(`k${k}`, 1, { capacity: 1_000, refillPerSecond: 1 })
          .catch((e) => failures.push(`${e}`));
      }
    }));
    writing = false;
    await noise;
    assertEquals(failures, []);
    assertEquals((await stores[0].history.load("s1")).length, 20);
  } finally {
    writing = false;
    await noise;
    for (const store of stores) await store.close();
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A real KV database whose reads (`get`, `getMany`, `list`) are counted. */
function countingReads(kv: Deno.Kv): { kv: Deno.Kv; reads: () => number } {
  let reads = 0;
  const counted = new Proxy(kv, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      if (key === "get" || key === "getMany" || key === "list") reads++;
      return value.bind(target);
    },
  });
  return { kv: counted, reads: () => reads };
}

Deno.test("marking a chat as used reads nothing when this instance wrote or read the entry last", async () => {
  const { kv, reads } = countingReads(await Deno.openKv(":memory:"));
  const store = new KvSessionStore(kv, { window: 10 });
  try {
    await store.append("s", turn("one"));
    await store.saveChat("alice", { sessionId: "s", title: "one", at: 1 });
    const before = reads();
    for (let i = 0; i < 3; i++) {
      await store.append("s", turn(`q${i}`));
      await store.touchChat("alice", "s");
    }
    assertEquals(reads() - before, 0, "no read per answer: the meta and the entry are remembered");
    const [entry] = await store.listChats("alice");
    assert(entry.at > 1, "the touch landed");
  } finally {
    store.close();
  }
});

Deno.test("an instance's remembered chat entry never outlives another instance's change or removal", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  const a = await KvSessionStore.open(path, { window: 10 });
  const b = await KvSessionStore.open(path, { window: 10 });
  try {
    await a.append("s", turn("one"));
    await a.saveChat("alice", { sessionId: "s", title: "first", at: 1 });
    // B renames it: A's remembered entry is stale, and A's touch must keep B's title.
    await b.saveChat("alice", { sessionId: "s", title: "renamed", at: 2 });
    await a.touchChat("alice", "s");
    const [touched] = await b.listChats("alice");
    assertEquals(touched.title, "renamed");
    assert(touched.at > 2, "A's touch landed after B's rename");
    // B touches, then removes it: A's touch must not bring it back.
    await b.touchChat("alice", "s");
    await a.touchChat("alice", "s");
    assert(await b.removeChat("alice", "s"));
    await a.touchChat("alice", "s");
    assertEquals(await a.listChats("alice"), []);
    assertEquals(await b.listChats("alice"), []);
    assertEquals(await a.load("s"), []);
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a huge turn is shrunk to fit one KV value and stored", async () => {
  const big = turn("big", "界".repeat(100_000));
  const fitted = fitTurn(big);
  assertLess(
    new TextEncoder().encode(JSON.stringify(fitted)).length,
    64 * 1024,
  );
  assert(fitted.answer.length > 1000);
  const store = await KvSessionStore.open(":memory:", { window: 5 });
  try {
    await store.append("s", big);
    assertEquals((await store.load("s"))[0].query, "big");
  } finally {
    store.close();
  }
});

Deno.test("a restarted server still knows the session's history", async () => {
  const dir = await Deno.makeTempDir();
  const env = { KV_PATH: `${dir}/kv.sqlite3` };
  try {
    let server = await startServer(env);
    let client = await WsTestClient.connect(server.wsUrl);
    client.send({ query: "remember the number 1234", session_id: "restart" });
    await client.answer();
    await client.close();
    await server.close();

    server = await startServer(env);
    client = await WsTestClient.connect(server.wsUrl);
    client.send({ query: "what did I ask earlier?", session_id: "restart" });
    const text = textOf(await client.answer());
    await client.close();
    await server.close();
    assertStringIncludes(text, "remember the number 1234");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after an answer, the turn and the chat's mark of use land in one KV commit", async () => {
  // Both writes start together and the turn's reaches the commit queue without an await
  // (its meta remembered): the chat entry's write shares the turn's commit, no commit of its own.
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  const server = await startServer({ KV_PATH: path });
  try {
    const client = await WsTestClient.connect(server.wsUrl, {
      headers: { cookie: "chat_owner=owner-commit" },
    });
    for (const query of ["first", "second"]) {
      client.send({ query, session_id: "together" });
      await client.answer();
    }
    await client.close();
    const kv = await Deno.openKv(path);
    const [chat, meta] = await kv.getMany([
      ["chats", "browser:owner-commit", "together"],
      ["sessions", "together", "meta"],
    ]);
    kv.close();
    assertNotEquals(chat.versionstamp, null, "the chat is listed");
    assertEquals(chat.versionstamp, meta.versionstamp);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("memory stream log forgets expired answers and their session pointers", async () => {
  const log = new MemoryStreamLog({ ttlMs: 20 });
  await log.begin("old", { sessionId: "s1", query: "q" });
  assertEquals(await log.latest("s1"), "old");
  await delay(40, new AbortController().signal);
  await log.begin("new", { sessionId: "s2", query: "q" });
  assertEquals(await log.read("old", -1), undefined);
  assertEquals(await log.latest("s1"), undefined);
  assertEquals(await log.latest("s2"), "new");
});

Deno.test("splitBatches keeps every batch under the KV value limit", () => {
  const big = "x".repeat(10_000);
  const events: LoggedEvent[] = Array.from({ length: 20 }, (_, seq) => ({
    seq,
    event: { type: "text-delta", delta: big },
  }));
  const batches = splitBatches(events);
  assert(batches.length > 1);
  assertEquals(batches.flat(), events);
  for (const batch of batches) assertLess(JSON.stringify(batch).length * 3, 64 * 1024 + 30_000);
});
