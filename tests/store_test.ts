import { assert, assertEquals, assertLess, assertStringIncludes } from "@std/assert";
import type { Turn } from "../server/agents/types.ts";
import { fitTurn, KvSessionStore } from "../server/store/kv.ts";
import { startServer } from "./helpers/server.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

function turn(query: string, answer = `answer to ${query}`): Turn {
  return { query, answer, finishReason: "stop", tools: [], at: Date.now() };
}

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

Deno.test("history keeps only the configured window of recent turns", async () => {
  const store = await KvSessionStore.open(":memory:", { window: 3 });
  try {
    for (const q of ["a", "b", "c", "d", "e"]) await store.append("s", turn(q));
    assertEquals((await store.load("s")).map((t) => t.query), ["c", "d", "e"]);
  } finally {
    store.close();
  }
});

Deno.test("concurrent appends to one session lose nothing", async () => {
  const store = await KvSessionStore.open(":memory:", { window: 50 });
  try {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.append("s", turn(`q${i}`))),
    );
    const queries = (await store.load("s")).map((t) => t.query).sort();
    assertEquals(queries, Array.from({ length: 8 }, (_, i) => `q${i}`));
  } finally {
    store.close();
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
