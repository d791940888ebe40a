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

/** The UTF-8 bytes of a turn's JSON: what a session's byte cap counts. */
const sizeOfTurn = (value: Turn) => new TextEncoder().encode(JSON.stringify(value)).length;

Deno.test("KV sessions whose turns and meta are objects (before the bytes) load, append, refresh, truncate and go", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite3`;
  const ttl = 30 * 86_400_000;
  const notDue = () => Date.now() + ttl;
  const metaKey = (id: string) => ["sessions", id, "meta"];
  const kv = await Deno.openKv(path);
  /** Writes `session` as objects, with a meta in the shape of the code before (sizes and all). */
  const write = async (session: OldSession, expiresAt: number) => {
    const op = kv.atomic();
    session.turns.forEach((value, i) => {
      op.set(["sessions", session.id, "turns", session.first + i], value);
    });
    const sizes = session.turns.map(sizeOfTurn);
    const next = session.first + session.turns.length;
    const bytes = sizes.reduce((sum, size) => sum + size, 0);
    const held = { turns: sizes.length, bytes, sizes, next };
    await op.set(metaKey(session.id), { next, expiresAt, held }).commit();
  };
  await write(BIG, notDue()); // not due a refresh: the append reads this meta as it is
  await write(SMALL, LATER); // due a refresh: the load rewrites it
  /** The session's meta as stored, and what it says the session holds against what it loads. */
  const check = async (store: SessionStore, id: string, { sizesKnown = true } = {}) => {
    const stored = (await kv.get(metaKey(id))).value;
    if (!(stored instanceof Uint8Array)) throw new Error(`meta of "${id}" is not bytes`);
    const meta = JSON.parse(new TextDecoder().decode(stored));
    const sizes = (await store.load(id)).map(sizeOfTurn);
    assertEquals(meta.held.sizes, sizesKnown ? sizes : undefined, `sizes of "${id}"`);
    assertEquals(meta.held.bytes, sizes.reduce((sum, size) => sum + size, 0), `bytes of "${id}"`);
    assertEquals(meta.held.turns, sizes.length);
    return meta;
  };
  const valueOf = async (id: string, n: number) =>
    (await kv.get(["sessions", id, "turns", n])).value;
  let store = await KvSessionStore.open(path, BOUNDS);
  try {
    // An append before any load: the object meta, read as it is, drops the oldest by its sizes.
    await store.append(BIG.id, big("B4"));
    assertEquals(await queries(store, BIG.id), ["B2", "B3", "B4"], "the byte cap holds");
    await store.append(BIG.id, turn("small"));
    assertEquals(await queries(store, BIG.id), ["B2", "B3", "B4", "small"]);
    assertEquals((await store.load(BIG.id)).map((t) => t.answer.length).slice(0, 3), [
      20_000,
      20_000,
      20_000,
    ]);
    assertEquals((await valueOf(BIG.id, 1)) instanceof Uint8Array, false, "old turns stay");
    assertEquals((await valueOf(BIG.id, 3)) instanceof Uint8Array, true, "new turns are bytes");
    await check(store, BIG.id);
    // The load pushes the expiry: the meta is rewritten (as bytes), the turns with it.
    assertEquals(await queries(store, SMALL.id), ["c", "d", "e"]);
    const refreshed = await check(store, SMALL.id);
    assertEquals(refreshed.expiresAt > LATER, true, "the expiry is pushed");
    await withinWindow(store);
    assertEquals((await valueOf(SMALL.id, 6)) instanceof Uint8Array, true);
    await check(store, SMALL.id);
  } finally {
    store.close();
  }
  // A meta from before the sizes, over turns of both forms: the oldest are read to drop them.
  const mixed = (await kv.get<Uint8Array>(metaKey(BIG.id))).value!;
  const { sizes: _, ...held } = JSON.parse(new TextDecoder().decode(mixed)).held;
  await kv.set(metaKey(BIG.id), { next: held.next, expiresAt: notDue(), held });
  store = await KvSessionStore.open(path, BOUNDS);
  try {
    await store.append(BIG.id, big("B5"));
    assertEquals(await queries(store, BIG.id), ["B3", "B4", "small", "B5"], "the cap holds");
    await store.truncate(BIG.id, 2);
    assertEquals(await queries(store, BIG.id), ["B3", "B4"]);
    await check(store, BIG.id, { sizesKnown: false });
    await store.saveChat("me", { sessionId: SMALL.id, title: "small", at: Date.now() });
    assertEquals(await store.removeChat("me", SMALL.id), true);
    assertEquals(await store.load(SMALL.id), []);
  } finally {
    store.close();
    kv.close();
  }
  try {
    assertEquals(await keysOf(path, SMALL.id), [], "a removed session leaves nothing");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
