/**
 * The SQLite backend (Bun): session history in SQLite, the same bounded
 * window of turns per session as the KV store, for runtimes without Deno KV
 * (via `bun:sqlite`); stream log and uploads in process memory.
 *
 * One table, `turns(session_id, n, turn)`. An append is one `BEGIN IMMEDIATE`
 * transaction (next number, insert, drop what fell out of the window), so
 * concurrent writers, even other processes on the same file, never overwrite
 * each other. A session's owner (for authentication) sits in `owners`.
 * Turns are shrunk with {@link fitTurn} exactly as in KV, so a
 * session's history reads the same on either runtime.
 *
 * The database is passed in (any object with the small {@link SqliteDatabase}
 * surface: `bun:sqlite`'s `Database` or `node:sqlite`'s `DatabaseSync`);
 * {@link SqliteSessionStore.open} opens `bun:sqlite` through a dynamic import
 * so this module type-checks and loads on Deno too.
 * @module
 */
import { fitTurn } from "./fit.ts";
import { MemoryStreamLog, MemoryUploadStore } from "./memory.ts";
import { type Backend, type ChatEntry, MAX_CHATS, type SessionStore, type Turn } from "./types.ts";
import { MemoryQuotaStore } from "./quota.ts";

/** A prepared statement, as `bun:sqlite` and `node:sqlite` both offer it. */
export interface SqliteStatement {
  run(...params: (string | number)[]): unknown;
  get(...params: (string | number)[]): unknown;
  all(...params: (string | number)[]): unknown[];
}

/** The part of a SQLite connection the store uses. */
export interface SqliteDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

const SCHEMA = `
  PRAGMA busy_timeout = 5000;
  CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    turn TEXT NOT NULL,
    PRIMARY KEY (session_id, n)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS chats (
    owner TEXT NOT NULL,
    session_id TEXT NOT NULL,
    title TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (owner, session_id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS owners (
    session_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL
  ) WITHOUT ROWID;
`;

/**
 * The SQLite file used on Bun for a `KV_PATH`: `data/chat.kv` becomes
 * `data/chat.sqlite`, other paths get `.sqlite` appended; `:memory:` stays.
 */
export function sqlitePathFor(kvPath: string): string {
  if (kvPath === ":memory:") return kvPath;
  return kvPath.endsWith(".kv") ? `${kvPath.slice(0, -3)}.sqlite` : `${kvPath}.sqlite`;
}

/** A {@link SessionStore} over a SQLite database. */
export class SqliteSessionStore implements SessionStore {
  #db: SqliteDatabase;
  #window: number;
  #load: SqliteStatement;
  #next: SqliteStatement;
  #insert: SqliteStatement;
  #trim: SqliteStatement;
  #cut: SqliteStatement;
  #windowKeys: SqliteStatement;
  #claim: SqliteStatement;
  #owner: SqliteStatement;

  /** Wraps an open database (creating the table); keeps the last `window` turns per session. */
  constructor(db: SqliteDatabase, options: { window: number }) {
    this.#db = db;
    this.#window = options.window;
    db.exec(SCHEMA);
    this.#load = db.prepare(
      "SELECT turn FROM turns WHERE session_id = ? ORDER BY n DESC LIMIT ?",
    );
    this.#next = db.prepare(
      "SELECT COALESCE(MAX(n) + 1, 0) AS next FROM turns WHERE session_id = ?",
    );
    this.#insert = db.prepare("INSERT INTO turns (session_id, n, turn) VALUES (?, ?, ?)");
    this.#trim = db.prepare("DELETE FROM turns WHERE session_id = ? AND n <= ?");
    this.#cut = db.prepare("DELETE FROM turns WHERE session_id = ? AND n >= ?");
    this.#windowKeys = db.prepare(
      "SELECT n FROM turns WHERE session_id = ? ORDER BY n DESC LIMIT ?",
    );
    this.#claim = db.prepare("INSERT OR IGNORE INTO owners (session_id, owner) VALUES (?, ?)");
    this.#owner = db.prepare("SELECT owner FROM owners WHERE session_id = ?");
  }

  /**
   * Opens (creating) the SQLite file at `path` with `bun:sqlite` (`:memory:`
   * for in-memory). Only works on Bun.
   */
  static async open(
    path: string,
    options: { window: number },
  ): Promise<SqliteSessionStore> {
    if (path !== ":memory:") {
      const dir = path.replace(/[^/]*$/, "");
      if (dir) {
        const { mkdir } = await import("node:fs/promises");
        await mkdir(dir, { recursive: true });
      }
    }
    // A computed specifier keeps `deno check` from resolving the Bun-only module.
    const specifier = "bun:sqlite";
    const { Database } = await import(specifier) as {
      Database: new (path: string, options?: { create?: boolean }) => SqliteDatabase;
    };
    const db = new Database(path, { create: true });
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL;");
    return new SqliteSessionStore(db, options);
  }

  load(sessionId: string): Promise<Turn[]> {
    const rows = this.#load.all(sessionId, this.#window) as { turn: string }[];
    return Promise.resolve(rows.map((row) => JSON.parse(row.turn) as Turn).reverse());
  }

  listChats(owner: string): Promise<ChatEntry[]> {
    const rows = this.#db.prepare(
      "SELECT session_id, title, at FROM chats WHERE owner = ? ORDER BY at DESC LIMIT ?",
    ).all(owner, MAX_CHATS) as { session_id: string; title: string; at: number }[];
    return Promise.resolve(
      rows.map((row) => ({ sessionId: row.session_id, title: row.title, at: Number(row.at) })),
    );
  }

  saveChat(owner: string, entry: ChatEntry): Promise<void> {
    this.#db.prepare(
      "INSERT OR REPLACE INTO chats (owner, session_id, title, at) VALUES (?, ?, ?, ?)",
    )
      .run(owner, entry.sessionId, entry.title, entry.at);
    return Promise.resolve();
  }

  removeChat(owner: string, sessionId: string): Promise<boolean> {
    const listed = this.#db.prepare("SELECT 1 AS x FROM chats WHERE owner = ? AND session_id = ?")
      .get(owner, sessionId);
    if (!listed) return Promise.resolve(false);
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#db.prepare("DELETE FROM chats WHERE owner = ? AND session_id = ?").run(
        owner,
        sessionId,
      );
      this.#db.prepare("DELETE FROM turns WHERE session_id = ?").run(sessionId);
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      return Promise.reject(new Error(`Cannot delete chat "${sessionId}": ${error}`));
    }
    return Promise.resolve(true);
  }

  truncate(sessionId: string, keep: number): Promise<void> {
    // `load`'s window, oldest first: the first dropped turn and all after it go.
    const rows = this.#windowKeys.all(sessionId, this.#window) as { n: number }[];
    const first = rows.reverse()[Math.max(0, keep)];
    if (first) this.#cut.run(sessionId, first.n);
    return Promise.resolve();
  }

  append(sessionId: string, turn: Turn): Promise<void> {
    const value = JSON.stringify(fitTurn(turn));
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const { next } = this.#next.get(sessionId) as { next: number };
      this.#insert.run(sessionId, next, value);
      this.#trim.run(sessionId, next - this.#window);
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      return Promise.reject(
        new Error(`Cannot append turn: session "${sessionId}": ${error}`),
      );
    }
    return Promise.resolve();
  }

  /**
   * Records `owner` as the owner of `sessionId` unless it has one (one
   * `INSERT OR IGNORE`, so of two concurrent claims exactly one wins) and
   * tells whether the session belongs to `owner`.
   */
  claim(sessionId: string, owner: string): Promise<boolean> {
    this.#claim.run(sessionId, owner);
    const row = this.#owner.get(sessionId) as { owner: string } | undefined | null;
    return Promise.resolve(row?.owner === owner);
  }

  close(): void {
    this.#db.close();
  }
}

/** Options of {@link openSqliteBackend}. */
export interface SqliteBackendOptions {
  /** Turns kept per session. */
  window: number;
  /** How long logged answers and uploads live. */
  ttlMs: number;
}

/**
 * Opens the Bun backend: history in the SQLite file at `path` (`bun:sqlite`),
 * stream log and uploads in process memory. The memory parts are a
 * deliberate single-node choice: a resume or an upload is only found on the
 * instance that has it. In a fleet the shared backend (Redis) replaces them.
 */
export async function openSqliteBackend(
  path: string,
  options: SqliteBackendOptions,
): Promise<Backend> {
  const history = await SqliteSessionStore.open(path, options);
  let closed = false;
  return {
    name: "sqlite",
    history,
    streamLog: new MemoryStreamLog(options),
    uploads: new MemoryUploadStore(options),
    quotas: new MemoryQuotaStore(),
    ready: () => Promise.resolve(true),
    close() {
      if (!closed) {
        closed = true;
        history.close();
      }
      return Promise.resolve();
    },
  };
}
