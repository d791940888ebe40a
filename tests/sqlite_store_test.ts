import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "@std/assert";
import { sqlitePathFor, SqliteSessionStore } from "../server/store/sqlite.ts";
import { BUN, BUN_VERSION, warnIfNoBun } from "./helpers/runtimes.ts";
import { type OpenStore, SQLITE_STORE_CASES, withTempDir } from "./helpers/sqlite_store_cases.ts";
import { BUN_SQLITE_CASES, SQLITE_GROUP_CASES } from "./helpers/sqlite_group_cases.ts";
import { SESSION_STORE_CASES, sessionStoreContract, turn } from "./helpers/store_contracts.ts";
import { until } from "./helpers/within.ts";

const openNodeSqlite: OpenStore = async (path, window, limits) => {
  if (path !== ":memory:") await mkdir(dirname(path), { recursive: true });
  return new SqliteSessionStore(new DatabaseSync(path), { window, ...limits });
};

sessionStoreContract(
  "sqlite on Deno, node:sqlite",
  (window, limits) => openNodeSqlite(":memory:", window, limits),
);

for (const { name, run } of SQLITE_STORE_CASES) {
  Deno.test(`sqlite store on Deno (node:sqlite): ${name}`, async () => {
    await withTempDir((dir) => run(openNodeSqlite, dir));
  });
}

for (const { name, run } of SQLITE_GROUP_CASES) {
  Deno.test(`sqlite store on Deno (node:sqlite): ${name}`, async () => {
    await withTempDir((dir) => run((path) => Promise.resolve(new DatabaseSync(path)), dir));
  });
}

warnIfNoBun();

Deno.test({
  name: `sqlite store on Bun (bun:sqlite ${BUN_VERSION ?? "missing"})`,
  ignore: BUN_VERSION === undefined,
  async fn(t) {
    const script = new URL("./helpers/sqlite_store_bun.ts", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command(BUN, {
      args: [script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(stdout).split("\n").filter((l) => l.startsWith("{"));
    const results = lines.map((l) =>
      JSON.parse(l) as { name: string; ok: boolean; error?: string }
    );
    for (const result of results) {
      await t.step(result.name, () => assert(result.ok, result.error));
    }
    assertEquals(
      results.map((r) => r.name),
      [...SESSION_STORE_CASES, ...SQLITE_STORE_CASES, ...SQLITE_GROUP_CASES, ...BUN_SQLITE_CASES]
        .map((c) => c.name),
      `bun exited with ${code}: ${new TextDecoder().decode(stderr)}`,
    );
    assertEquals(code, 0, new TextDecoder().decode(stderr));
  },
});

Deno.test("the Bun SQLite file sits beside the KV path", () => {
  assertEquals(sqlitePathFor("data/chat.kv"), "data/chat.sqlite");
  assertEquals(sqlitePathFor("/tmp/x/kv.sqlite3"), "/tmp/x/kv.sqlite3.sqlite");
  assertEquals(sqlitePathFor(":memory:"), ":memory:");
});

Deno.test("turns that fall out of the window are deleted, not just hidden", async () => {
  const db = new DatabaseSync(":memory:");
  const store = new SqliteSessionStore(db, { window: 3 });
  try {
    for (const q of ["a", "b", "c", "d", "e"]) {
      await store.append("s", { query: q, answer: q, finishReason: "stop", tools: [], at: 0 });
    }
    await store.append("t", { query: "x", answer: "x", finishReason: "stop", tools: [], at: 0 });
    const rows = db.prepare("SELECT session_id, n FROM turns ORDER BY session_id, n").all();
    assertEquals(rows.map((r) => `${r.session_id}:${r.n}`), ["s:2", "s:3", "s:4", "t:0"]);
  } finally {
    store.close();
  }
});

Deno.test("an append numbers after turns another writer added without updating the session row", async () => {
  const db = new DatabaseSync(":memory:");
  const store = new SqliteSessionStore(db, { window: 3 });
  try {
    for (const q of ["a", "b", "c"]) await store.append("s", turn(q));
    // A writer that keeps no counts (a release from before them) adds turn 3.
    db.prepare("INSERT INTO turns (session_id, n, turn) VALUES (?, ?, ?)")
      .run("s", 3, JSON.stringify(turn("d")));
    await store.append("s", turn("e"));
    const rows = db.prepare("SELECT n FROM turns WHERE session_id = 's' ORDER BY n").all();
    assertEquals(rows.map((r) => Number(r.n)), [2, 3, 4]);
    assertEquals((await store.load("s")).map((t) => t.query), ["c", "d", "e"]);
  } finally {
    store.close();
  }
});

Deno.test("the oldest turns go first even below where the session row says they start", async () => {
  const db = new DatabaseSync(":memory:");
  const store = new SqliteSessionStore(db, { window: 2 });
  try {
    const insert = db.prepare("INSERT INTO turns (session_id, n, turn) VALUES (?, ?, ?)");
    for (const [n, q] of ["a", "b", "c", "d"].entries()) {
      insert.run("s", n, JSON.stringify(turn(q)));
    }
    // The row counts two turns before turn 4: taken at its word, the oldest would be turn 2.
    db.prepare(
      "INSERT INTO sessions (session_id, expires_at, turns, bytes, next) VALUES (?, ?, ?, ?, ?)",
    ).run("s", Date.now() + 60_000, 2, 0, 4);
    await store.append("s", turn("e"));
    const rows = db.prepare("SELECT n FROM turns WHERE session_id = 's' ORDER BY n").all();
    assertEquals(rows.map((r) => Number(r.n)), [1, 2, 3, 4]);
  } finally {
    store.close();
  }
});

Deno.test("expired sessions and chat entries are swept from the file, not just hidden", async () => {
  const db = new DatabaseSync(":memory:");
  const store = new SqliteSessionStore(db, { window: 10, historyTtlMs: 1_000 });
  const count = (table: string) =>
    Number((db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n);
  try {
    await store.claim("s", "alice");
    await store.append("s", turn("old"));
    await store.saveChat("alice", { sessionId: "s", title: "old", at: Date.now() });
    assertEquals([count("turns"), count("owners"), count("sessions"), count("chats")], [
      1,
      1,
      1,
      1,
    ]);
    await until(async () => (await store.listChats("alice")).length === 0, {
      timeoutMs: 30_000,
      what: "the chat expires",
    });
    await store.append("t", turn("new"));
    const rows = db.prepare("SELECT session_id FROM turns").all();
    assertEquals(rows.map((row) => row.session_id), ["t"]);
    assertEquals([count("owners"), count("sessions"), count("chats")], [0, 1, 0]);
  } finally {
    store.close();
  }
});
