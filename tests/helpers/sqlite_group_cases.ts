/**
 * Cases for the SQLite store's group commit (`server/store/sqlite_group_commit.ts`)
 * over a real database, runtime-neutral like `sqlite_store_cases.ts`:
 * `tests/sqlite_store_test.ts` runs them on Deno over `node:sqlite` and on
 * Bun over `bun:sqlite` (through `tests/helpers/sqlite_store_bun.ts`), which
 * also runs {@link BUN_SQLITE_CASES}.
 * @module
 */
import { join } from "node:path";
import assert from "node:assert/strict";
import {
  openSqliteFile,
  type SqliteDatabase,
  SqliteSessionStore,
  type SqliteStatement,
} from "../../server/store/sqlite.ts";
import { turn } from "./store_contracts.ts";

/** Opens a database on the SQLite file at `path`. */
export type OpenDatabase = (path: string) => Promise<SqliteDatabase>;

/** One case: a name and a body given the database opener and a fresh temporary directory. */
export interface DatabaseCase {
  name: string;
  run(open: OpenDatabase, dir: string): Promise<void>;
}

/** `db`, counting how many times each SQL text is run (prepared or `exec`). */
function counted(db: SqliteDatabase): { db: SqliteDatabase; runs: (sql: string) => number } {
  const runs = new Map<string, number>();
  const ran = (sql: string) => runs.set(sql, (runs.get(sql) ?? 0) + 1);
  const wrapped: SqliteDatabase = {
    exec(sql) {
      ran(sql);
      return db.exec(sql);
    },
    prepare(sql) {
      const statement = db.prepare(sql);
      const counting: SqliteStatement = {
        run: (...params) => (ran(sql), statement.run(...params)),
        get: (...params) => (ran(sql), statement.get(...params)),
        all: (...params) => (ran(sql), statement.all(...params)),
      };
      return counting;
    },
    close: () => db.close(),
  };
  return { db: wrapped, runs: (sql) => runs.get(sql) ?? 0 };
}

/** The number of `turns` rows of `sessionId`, read on `db` itself. */
function storedTurns(db: SqliteDatabase, sessionId: string): number {
  const row = db.prepare("SELECT COUNT(*) AS n FROM turns WHERE session_id = ?").get(sessionId);
  return Number((row as { n: number }).n);
}

/** Whether `promise` rejected, and with what message. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** The group-commit cases, in order. */
export const SQLITE_GROUP_CASES: DatabaseCase[] = [
  {
    name: "appends (and chat touches) requested in one tick are stored in order in one transaction",
    async run(open, dir) {
      const raw = await open(join(dir, "group.sqlite"));
      const { db, runs } = counted(raw);
      const store = new SqliteSessionStore(db, { window: 10 });
      try {
        const appends = [
          store.append("a", turn("a1")),
          store.append("b", turn("b1")),
          store.append("a", turn("a2")),
          store.append("a", turn("a3")),
          store.append("b", turn("b2")),
        ];
        assert.equal(runs("BEGIN IMMEDIATE"), 0, "nothing runs before the tick ends");
        await Promise.all(appends);
        assert.equal(runs("BEGIN IMMEDIATE"), 1);
        assert.equal(runs("COMMIT"), 1);
        assert.equal(runs("SAVEPOINT write"), 1, "a group where nothing fails: one savepoint");
        assert.deepEqual((await store.load("a")).map((t) => t.query), ["a1", "a2", "a3"]);
        assert.deepEqual((await store.load("b")).map((t) => t.query), ["b1", "b2"]);
        await store.append("a", turn("a4"));
        assert.equal(runs("BEGIN IMMEDIATE"), 2, "a later append commits on its own");
        await store.saveChat("alice", { sessionId: "a", title: "a", at: 1 });
        const began = runs("BEGIN IMMEDIATE");
        await Promise.all([store.append("a", turn("a5")), store.touchChat("alice", "a")]);
        assert.equal(runs("BEGIN IMMEDIATE"), began + 1, "a turn and its chat's touch: one");
        assert.ok((await store.listChats("alice"))[0].at > 1, "the touch is stored");
        assert.equal((await store.load("a")).at(-1)?.query, "a5");
      } finally {
        store.close();
      }
    },
  },
  {
    name: "an append that fails rolls back and rejects alone; the rest of its group is stored",
    async run(open, dir) {
      const raw = await open(join(dir, "refuse.sqlite"));
      const { db, runs } = counted(raw);
      const store = new SqliteSessionStore(db, { window: 10 });
      // Refused at its last statement, after its turn went in: only a rollback takes the turn out.
      raw.exec(`CREATE TRIGGER refuse BEFORE INSERT ON sessions WHEN NEW.session_id = 'refused'
                BEGIN SELECT RAISE(ABORT, 'session refused'); END`);
      try {
        const results = await Promise.all([
          outcome(store.append("s", turn("one"))),
          outcome(store.append("refused", turn("no"))),
          outcome(store.append("s", turn("two"))),
        ]);
        assert.equal(results[0], "ok");
        assert.match(results[1], /^Cannot append turn: session "refused": .*session refused/);
        assert.equal(results[2], "ok");
        assert.equal(runs("BEGIN IMMEDIATE"), 1, "one transaction for the group");
        assert.equal(runs("ROLLBACK TO write"), 2, "the group, then the refused append alone");
        assert.equal(runs("SAVEPOINT write"), 4, "the group's, then one for each append");
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["one", "two"]);
        assert.equal(storedTurns(raw, "refused"), 0);
        assert.deepEqual(await store.load("refused"), []);
      } finally {
        store.close();
      }
    },
  },
  {
    name: "a group whose commit fails rejects every append in it; the store goes on",
    async run(open, dir) {
      const raw = await open(join(dir, "commit.sqlite"));
      const store = new SqliteSessionStore(raw, { window: 10 });
      // A deferred foreign key is checked at COMMIT: a turn of "poison" makes the commit fail.
      raw.exec(`PRAGMA foreign_keys = ON;
        CREATE TABLE parent (id TEXT PRIMARY KEY);
        CREATE TABLE child (id TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TRIGGER poison AFTER INSERT ON turns WHEN NEW.session_id = 'poison'
        BEGIN INSERT INTO child (id) VALUES ('missing'); END`);
      try {
        const results = await Promise.all([
          outcome(store.append("s", turn("one"))),
          outcome(store.append("poison", turn("x"))),
        ]);
        assert.match(results[0], /^Cannot append turn: session "s": .*FOREIGN KEY/);
        assert.match(results[1], /^Cannot append turn: session "poison": .*FOREIGN KEY/);
        assert.equal(storedTurns(raw, "s"), 0);
        await store.append("s", turn("two"));
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["two"]);
      } finally {
        store.close();
      }
    },
  },
  {
    name: "an append not yet committed is seen by the calls made after it",
    async run(open, dir) {
      const store = new SqliteSessionStore(await open(join(dir, "order.sqlite")), { window: 10 });
      try {
        const appended = store.append("s", turn("one"));
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["one"]);
        const again = store.append("s", turn("two"));
        await store.truncate("s", 1);
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["one"]);
        await Promise.all([appended, again]);
      } finally {
        store.close();
      }
    },
  },
  {
    name: "a read writes nothing unless the session's expiry is due a push",
    async run(open, dir) {
      const db = await open(join(dir, "read.sqlite"));
      const store = new SqliteSessionStore(db, { window: 10, historyTtlMs: 1_000 });
      const changes = () =>
        Number((db.prepare("SELECT total_changes() AS n").get() as { n: number }).n);
      try {
        await store.append("s", turn("one"));
        const before = changes();
        assert.equal((await store.load("s")).length, 1);
        assert.equal(changes(), before, "pushed less than a tenth of the TTL ago");
        await new Promise((resolve) => setTimeout(resolve, 150));
        assert.equal((await store.load("s")).length, 1);
        assert.equal(changes(), before + 1, "a tenth of the TTL later the read pushes it");
      } finally {
        store.close();
      }
    },
  },
];

/** Cases of the database Bun's store opens ({@link openSqliteFile}): run on Bun only. */
export const BUN_SQLITE_CASES: DatabaseCase[] = [
  {
    name: "the SQLite file is opened in WAL mode with synchronous = NORMAL",
    async run(_open, dir) {
      const db = await openSqliteFile(join(dir, "nested", "pragmas.sqlite"));
      try {
        const mode = db.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
        const sync = db.prepare("PRAGMA synchronous").get() as { synchronous: number };
        assert.equal(mode.journal_mode, "wal");
        assert.equal(Number(sync.synchronous), 1, "1 is NORMAL (2 is FULL, SQLite's default)");
      } finally {
        db.close();
      }
    },
  },
];
