/**
 * The SQLite backend (Bun): session history in SQLite, the same bounded
 * window of turns per session as the KV store, for runtimes without Deno KV
 * (via `bun:sqlite`); stream log and uploads in process memory.
 *
 * One table, `turns(session_id, n, turn)`. An append is one `BEGIN IMMEDIATE`
 * transaction (next number, insert, drop what fell out of the window or
 * over the byte cap), so concurrent writers, even other processes on the
 * same file, never overwrite each other. A session's owner (for
 * authentication) sits in `owners`, its expiry in `sessions` (reads filter
 * by it; a sweep, at most once per tenth of the TTL, deletes what expired),
 * an owner's chats in `chats` (with their own expiry).
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
import {
  chatsToDrop,
  isExpired,
  keptTurns,
  limitsOf,
  type SessionStoreOptions,
  type StoreLimits,
} from "./retention.ts";
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
  CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
`;

/** What a sweep deletes (`?` is now): every row of an expired session, expired chat entries. */
const SWEEP = [
  "DELETE FROM turns WHERE session_id IN (SELECT session_id FROM sessions WHERE expires_at <= ?)",
  "DELETE FROM owners WHERE session_id IN (SELECT session_id FROM sessions WHERE expires_at <= ?)",
  "DELETE FROM sessions WHERE expires_at <= ?",
  "DELETE FROM chats WHERE expires_at <= ?",
];

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
  #limits: StoreLimits;
  #sweptAt = 0;
  #load: SqliteStatement;
  #expiry: SqliteStatement;
  #push: SqliteStatement;
  #refresh: SqliteStatement;
  #sizes: SqliteStatement;
  #next: SqliteStatement;
  #insert: SqliteStatement;
  #trim: SqliteStatement;
  #cut: SqliteStatement;
  #claim: SqliteStatement;
  #owner: SqliteStatement;
  #sweep: SqliteStatement[];
  #forget: SqliteStatement[];

  /** Wraps an open database (creating the tables); keeps the last `window` turns per session. */
  constructor(db: SqliteDatabase, options: SessionStoreOptions) {
    this.#db = db;
    this.#window = options.window;
    this.#limits = limitsOf(options);
    db.exec(SCHEMA);
    const columns = db.prepare("PRAGMA table_info(chats)").all() as { name: string }[];
    if (!columns.some((column) => column.name === "expires_at")) {
      db.exec("ALTER TABLE chats ADD COLUMN expires_at INTEGER");
    }
    this.#load = db.prepare(
      "SELECT turn FROM turns WHERE session_id = ? ORDER BY n DESC LIMIT ?",
    );
    this.#expiry = db.prepare("SELECT expires_at FROM sessions WHERE session_id = ?");
    this.#push = db.prepare(
      "INSERT OR REPLACE INTO sessions (session_id, expires_at) VALUES (?, ?)",
    );
    this.#refresh = db.prepare("UPDATE sessions SET expires_at = ? WHERE session_id = ?");
    this.#sizes = db.prepare(
      "SELECT n, length(CAST(turn AS BLOB)) AS bytes FROM turns WHERE session_id = ? ORDER BY n",
    );
    this.#next = db.prepare(
      "SELECT COALESCE(MAX(n) + 1, 0) AS next FROM turns WHERE session_id = ?",
    );
    this.#insert = db.prepare("INSERT INTO turns (session_id, n, turn) VALUES (?, ?, ?)");
    this.#trim = db.prepare("DELETE FROM turns WHERE session_id = ? AND n < ?");
    this.#cut = db.prepare("DELETE FROM turns WHERE session_id = ? AND n >= ?");
    this.#claim = db.prepare("INSERT OR IGNORE INTO owners (session_id, owner) VALUES (?, ?)");
    this.#owner = db.prepare("SELECT owner FROM owners WHERE session_id = ?");
    this.#sweep = SWEEP.map((sql) => db.prepare(sql));
    this.#forget = ["turns", "owners"].map((table) =>
      db.prepare(`DELETE FROM ${table} WHERE session_id = ?`)
    );
  }

  /**
   * Opens (creating) the SQLite file at `path` with `bun:sqlite` (`:memory:`
   * for in-memory). Only works on Bun.
   */
  static async open(
    path: string,
    options: SessionStoreOptions,
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

  /** Deletes what expired, at most once per tenth of the TTL (one index range scan). */
  #sweepExpired(now: number): void {
    if (now - this.#sweptAt < this.#limits.historyTtlMs / 10) return;
    this.#sweptAt = now;
    for (const statement of this.#sweep) statement.run(now);
  }

  /** True when the session's history expired (not swept yet). */
  #expired(sessionId: string, now: number): boolean {
    const row = this.#expiry.get(sessionId) as { expires_at: number } | undefined | null;
    return isExpired(row ? Number(row.expires_at) : undefined, now);
  }

  /** Runs `body` in one `BEGIN IMMEDIATE` transaction; `what` names it in the error. */
  #transaction<T>(what: string, body: () => T): Promise<T> {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = body();
      this.#db.exec("COMMIT");
      return Promise.resolve(result);
    } catch (error) {
      this.#db.exec("ROLLBACK");
      return Promise.reject(new Error(`Cannot ${what}: ${error}`));
    }
  }

  load(sessionId: string): Promise<Turn[]> {
    const now = Date.now();
    if (this.#expired(sessionId, now)) return Promise.resolve([]);
    this.#refresh.run(now + this.#limits.historyTtlMs, sessionId);
    const rows = this.#load.all(sessionId, this.#window) as { turn: string }[];
    return Promise.resolve(rows.map((row) => JSON.parse(row.turn) as Turn).reverse());
  }

  listChats(owner: string): Promise<ChatEntry[]> {
    const rows = this.#db.prepare(
      `SELECT session_id, title, at FROM chats WHERE owner = ?
       AND (expires_at IS NULL OR expires_at > ?) ORDER BY at DESC LIMIT ?`,
    ).all(owner, Date.now(), MAX_CHATS) as { session_id: string; title: string; at: number }[];
    return Promise.resolve(
      rows.map((row) => ({ sessionId: row.session_id, title: row.title, at: Number(row.at) })),
    );
  }

  async saveChat(owner: string, entry: ChatEntry): Promise<string[]> {
    const expiresAt = Date.now() + this.#limits.historyTtlMs;
    this.#db.prepare(
      "INSERT OR REPLACE INTO chats (owner, session_id, title, at, expires_at) VALUES (?, ?, ?, ?, ?)",
    ).run(owner, entry.sessionId, entry.title, entry.at, expiresAt);
    const rows = this.#db.prepare(
      "SELECT session_id, at, expires_at FROM chats WHERE owner = ?",
    ).all(owner) as { session_id: string; at: number; expires_at: number | null }[];
    const chats = rows.map((row) => ({
      sessionId: row.session_id,
      title: "",
      at: Number(row.at),
      expiresAt: row.expires_at === null ? undefined : Number(row.expires_at),
    }));
    const drop = chatsToDrop(chats, {
      current: entry.sessionId,
      cap: this.#limits.maxSessionsPerOwner,
    });
    const forget = this.#db.prepare("DELETE FROM chats WHERE owner = ? AND session_id = ?");
    for (const id of drop.expired) forget.run(owner, id);
    for (const id of drop.evicted) await this.removeChat(owner, id);
    return drop.evicted;
  }

  touchChat(owner: string, sessionId: string): Promise<void> {
    const now = Date.now();
    this.#db.prepare(
      `UPDATE chats SET at = ?, expires_at = ? WHERE owner = ? AND session_id = ?
       AND (expires_at IS NULL OR expires_at > ?)`,
    ).run(now, now + this.#limits.historyTtlMs, owner, sessionId, now);
    return Promise.resolve();
  }

  removeChat(owner: string, sessionId: string): Promise<boolean> {
    const listed = this.#db.prepare("SELECT 1 AS x FROM chats WHERE owner = ? AND session_id = ?")
      .get(owner, sessionId);
    if (!listed) return Promise.resolve(false);
    return this.#transaction(`delete chat "${sessionId}"`, () => {
      this.#db.prepare("DELETE FROM chats WHERE owner = ? AND session_id = ?").run(
        owner,
        sessionId,
      );
      this.#db.prepare("DELETE FROM turns WHERE session_id = ?").run(sessionId);
      this.#db.prepare("DELETE FROM owners WHERE session_id = ?").run(sessionId);
      this.#db.prepare("DELETE FROM sessions WHERE session_id = ?").run(sessionId);
      return true;
    });
  }

  truncate(sessionId: string, keep: number): Promise<void> {
    // `load`'s window, oldest first: the first dropped turn and all after it go.
    const rows = (this.#sizes.all(sessionId) as { n: number }[]).slice(-this.#window);
    const first = rows[Math.max(0, keep)];
    if (first) this.#cut.run(sessionId, first.n);
    return Promise.resolve();
  }

  append(sessionId: string, turn: Turn): Promise<void> {
    const value = JSON.stringify(fitTurn(turn));
    const now = Date.now();
    this.#sweepExpired(now);
    return this.#transaction(`append turn: session "${sessionId}"`, () => {
      if (this.#expired(sessionId, now)) this.#trim.run(sessionId, Number.MAX_SAFE_INTEGER);
      const { next } = this.#next.get(sessionId) as { next: number };
      this.#insert.run(sessionId, next, value);
      this.#push.run(sessionId, now + this.#limits.historyTtlMs);
      const rows = this.#sizes.all(sessionId) as { n: number; bytes: number }[];
      const kept = keptTurns(rows.map((row) => Number(row.bytes)), {
        window: this.#window,
        maxBytes: this.#limits.maxSessionBytes,
      });
      this.#trim.run(sessionId, rows[rows.length - kept].n);
    });
  }

  /**
   * Records `owner` as the owner of `sessionId` unless it has one (one
   * `INSERT OR IGNORE`, so of two concurrent claims exactly one wins) and
   * tells whether the session belongs to `owner`. Claiming a new session
   * starts its expiry.
   */
  claim(sessionId: string, owner: string): Promise<boolean> {
    const now = Date.now();
    return this.#transaction(`claim session "${sessionId}"`, () => {
      const row = this.#expiry.get(sessionId) as { expires_at: number } | undefined | null;
      const expired = row ? isExpired(Number(row.expires_at), now) : false;
      // An expired session (not swept yet) starts afresh.
      if (expired) { for (const statement of this.#forget) statement.run(sessionId); }
      if (!row || expired) this.#push.run(sessionId, now + this.#limits.historyTtlMs);
      this.#claim.run(sessionId, owner);
      return (this.#owner.get(sessionId) as { owner: string } | undefined | null)?.owner === owner;
    });
  }

  close(): void {
    this.#db.close();
  }
}

/** Options of {@link openSqliteBackend}. */
export interface SqliteBackendOptions extends SessionStoreOptions {
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
