/**
 * Sessions stored before the stores kept what a session holds (count and
 * bytes of its turns) beside it: written here in the layout the earlier
 * code wrote (a KV meta of next number and expiry stamp, or the number
 * alone; a SQLite `sessions` table without the columns; a Redis list with
 * no byte total), they load, and appends keep them within the window and
 * the byte cap, deleting what drops out.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { createClient } from "redis";
import { assertEquals } from "@std/assert";
import { KvSessionStore } from "../server/store/kv.ts";
import { RedisSessionStore } from "../server/store/redis.ts";
import { SqliteSessionStore } from "../server/store/sqlite.ts";
import type { SessionStore, Turn } from "../server/store/types.ts";
import { keysOf } from "./helpers/kv_keys.ts";
import { hasRedis, startRedis } from "./helpers/redis_server.ts";
import { turn } from "./helpers/store_contracts.ts";

/** Four turns a session, at most 64 KiB: three big turns fit, four do not. */
const BOUNDS = { window: 4, maxSessionBytes: 64 * 1024 };
const big = (query: string) => turn(query, "x".repeat(20_000));
const LATER = Date.now() + 86_400_000;

/** A session as stored before: `turns` numbered from `first`. */
interface OldSession {
  id: string;
  first: number;
  turns: Turn[];
}

const SMALL: OldSession = { id: "small", first: 2, turns: ["c", "d", "e"].map((q) => turn(q)) };
const BIG: OldSession = { id: "big", first: 0, turns: ["B1", "B2", "B3"].map(big) };

const queries = async (store: SessionStore, sessionId: string) =>
  (await store.load(sessionId)).map((t) => t.query);

/** Appends to the old small session through `store`: the window holds. */
async function withinWindow(store: SessionStore, sessionId = SMALL.id): Promise<void> {
  assertEquals(await queries(store, sessionId), ["c", "d", "e"]);
  await store.append(sessionId, turn("f"));
  assertEquals(await queries(store, sessionId), ["c", "d", "e", "f"]);
  await store.append(sessionId, turn("g"));
  assertEquals(await queries(store, sessionId), ["d", "e", "f", "g"], "the window holds");
}

/** Appends to the old big session through `store`: the byte cap holds. */
async function withinCap(store: SessionStore, sessionId = BIG.id): Promise<void> {
  assertEquals(await queries(store, sessionId), ["B1", "B2", "B3"]);
  await store.append(sessionId, big("B4"));
  assertEquals(await queries(store, sessionId), ["B2", "B3", "B4"], "the byte cap holds");
  await store.append(sessionId, turn("small"));
  assertEquals(await queries(store, sessionId), ["B2", "B3", "B4", "small"]);
}

Deno.test("KV sessions from before the held counts load and append within the bounds", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  const kv = await Deno.openKv(path);
  const write = async (session: OldSession, meta: Record<string, unknown>) => {
    const op = kv.atomic();
    session.turns.forEach((value, i) => {
      op.set(["sessions", session.id, "turns", session.first + i], value);
    });
    await op.set(["sessions", session.id, "meta"], meta).commit();
  };
  await write(SMALL, { next: 5, expiresAt: LATER });
  await write(BIG, { next: 3 }); // from before the expiry stamp
  // A count tagged with an older turn number: a writer that does not keep it moved on since.
  const stale = { ...BIG, id: "stale" };
  await write(stale, { next: 3, expiresAt: LATER, held: { turns: 1, bytes: 10, next: 1 } });
  kv.close();
  const store = await KvSessionStore.open(path, BOUNDS);
  try {
    await withinWindow(store);
    await withinCap(store);
    await withinCap(store, stale.id);
  } finally {
    store.close();
  }
  try {
    // What dropped out is deleted, not just hidden.
    for (const id of [SMALL.id, BIG.id, stale.id]) {
      const turns = (await keysOf(path, id)).filter((key) =>
        key.startsWith(`sessions/${id}/turns`)
      );
      assertEquals(turns.length, 4, `${turns}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SQLite sessions from before the held counts load and append within the bounds", async () => {
  const db = new DatabaseSync(":memory:");
  // The tables as the earlier code created them.
  db.exec(`
    CREATE TABLE turns (session_id TEXT NOT NULL, n INTEGER NOT NULL, turn TEXT NOT NULL,
      PRIMARY KEY (session_id, n)) WITHOUT ROWID;
    CREATE TABLE sessions (session_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
  `);
  const insert = db.prepare("INSERT INTO turns (session_id, n, turn) VALUES (?, ?, ?)");
  for (const session of [SMALL, BIG]) {
    session.turns.forEach((value, i) => {
      insert.run(session.id, session.first + i, JSON.stringify(value));
    });
  }
  // The small session from before the expiry: no row at all.
  db.prepare("INSERT INTO sessions (session_id, expires_at) VALUES (?, ?)").run(BIG.id, LATER);
  const store = new SqliteSessionStore(db, BOUNDS);
  try {
    await withinWindow(store);
    await withinCap(store);
    const rows = db.prepare("SELECT session_id, COUNT(*) AS n FROM turns GROUP BY session_id")
      .all();
    assertEquals(rows.map((row) => `${row.session_id}:${row.n}`).sort(), ["big:4", "small:4"]);
  } finally {
    store.close();
  }
});

Deno.test({
  name: "Redis sessions from before the byte total load and append within the bounds",
  ignore: !hasRedis(),
  async fn() {
    const server = await startRedis();
    const client = createClient({ url: server.url });
    await client.connect();
    const prefix = "chat:";
    const store = new RedisSessionStore(client, { ...BOUNDS, prefix });
    try {
      for (const session of [SMALL, BIG]) {
        await client.rPush(
          `${prefix}s:${session.id}:turns`,
          session.turns.map((t) => JSON.stringify(t)),
        );
      }
      await withinWindow(store);
      await withinCap(store);
      assertEquals(await client.lLen(`${prefix}s:${SMALL.id}:turns`), 4);
      assertEquals(await client.lLen(`${prefix}s:${BIG.id}:turns`), 4);
    } finally {
      await client.quit();
      await server.stop();
    }
  },
});
