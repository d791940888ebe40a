/**
 * The SQLite backend (Bun): session history in SQLite, the same bounded
 * window of turns per session as the KV store, for runtimes without Deno KV
 * (via `bun:sqlite`); stream log and uploads in process memory.
 *
 * One table, `turns(session_id, n, turn)`. An append runs in a `BEGIN
 * IMMEDIATE` transaction (next number, insert, drop what fell out of the
 * window or over the byte cap), so concurrent writers, even other processes
 * on the same file, never overwrite each other; appends requested in the
 * same tick share one ({@link SqliteGroupCommit}), and every other call
 * commits those first, so calls take effect in the order they were made.
 * A session's owner (for authentication) sits in `owners`, its expiry in
 * `sessions` (reads filter by it; a sweep, at most once per tenth of the
 * TTL, deletes what expired) with what it holds (turns and bytes as of turn
 * number `next`, so an append reads old turns only to drop them), an
 * owner's chats in `chats` (with their own expiry).
 * Turns are shrunk with {@link storedTurn} exactly as in KV, so a
 * session's history reads the same on either runtime.
 *
 * The database is passed in (any object with the small {@link SqliteDatabase}
 * surface: `bun:sqlite`'s `Database` or `node:sqlite`'s `DatabaseSync`);
 * {@link SqliteSessionStore.open} opens `bun:sqlite` through a dynamic import
 * so this module type-checks and loads on Deno too.
 * @module
 */
import { storedTurn } from "./fit.ts";
import { MemoryStreamLog, MemoryUploadStore } from "./memory.ts";
import {
  chatsToDrop,
  type Held,
  isExpired,
  limitsOf,
  overBounds,
  refreshDue,
  type SessionStoreOptions,
  type StoreLimits,
  type TurnBounds,
  turnBoundsOf,
  turnBytes,
} from "./retention.ts";
import { type Backend, type ChatEntry, MAX_CHATS, type SessionStore, type Turn } from "./types.ts";
import { MemoryQuotaStore } from "./quota.ts";
import { SqliteGroupCommit } from "./sqlite_group_commit.ts";
import {
  createSchema,
  openSqliteFile,
  type SqliteDatabase,
  type SqliteStatement,
  SWEEP,
} from "./sqlite_schema.ts";

export { openSqliteFile };
export type { SqliteDatabase, SqliteStatement };

/**
 * The SQLite file used on Bun for a `KV_PATH`: `data/chat.kv` becomes
 * `data/chat.sqlite`, other paths get `.sqlite` appended; `:memory:` stays.
 */
export function sqlitePathFor(kvPath: string): string {
  if (kvPath === ":memory:") return kvPath;
  return kvPath.endsWith(".kv") ? `${kvPath.slice(0, -3)}.sqlite` : `${kvPath}.sqlite`;
}

/** A session's row: its expiry and what it holds as of turn `next` (NULL: not known). */
interface SessionRow {
  expires_at: number;
  turns: number | null;
  bytes: number | null;
  next: number | null;
}

/** A {@link SessionStore} over a SQLite database. */
export class SqliteSessionStore implements SessionStore {
  #db: SqliteDatabase;
  #window: number;
  #limits: StoreLimits;
  #bounds: TurnBounds;
  #sweptAt = 0;
  #load: SqliteStatement;
  #expiry: SqliteStatement;
  #push: SqliteStatement;
  #refresh: SqliteStatement;
  #sizes: SqliteStatement;
  #held: SqliteStatement;
  #count: SqliteStatement;
  #save: SqliteStatement;
  #next: SqliteStatement;
  #insert: SqliteStatement;
  #insertNew: SqliteStatement;
  #oldest: SqliteStatement;
  #below: SqliteStatement;
  #turnAt: SqliteStatement;
  #trim: SqliteStatement;
  #cut: SqliteStatement;
  #claim: SqliteStatement;
  #owner: SqliteStatement;
  #sweep: SqliteStatement[];
  #forget: SqliteStatement[];
  #touch: SqliteStatement;
  #writes: SqliteGroupCommit;

  /** Wraps an open database (creating the tables); keeps the last `window` turns per session. */
  constructor(db: SqliteDatabase, options: SessionStoreOptions) {
    this.#db = db;
    this.#window = options.window;
    this.#limits = limitsOf(options);
    this.#bounds = turnBoundsOf(options);
    createSchema(db);
    // Prepared once: `exec` parses its SQL on every call (three times the cost on `bun:sqlite`).
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
    this.#held = db.prepare(
      "SELECT expires_at, turns, bytes, next FROM sessions WHERE session_id = ?",
    );
    this.#count = db.prepare(
      `SELECT COUNT(*) AS turns, COALESCE(SUM(length(CAST(turn AS BLOB))), 0) AS bytes
       FROM turns WHERE session_id = ?`,
    );
    this.#save = db.prepare(
      `INSERT OR REPLACE INTO sessions (session_id, expires_at, turns, bytes, next)
       VALUES (?, ?, ?, ?, ?)`,
    );
    this.#next = db.prepare(
      "SELECT COALESCE(MAX(n) + 1, 0) AS next FROM turns WHERE session_id = ?",
    );
    this.#insert = db.prepare("INSERT INTO turns (session_id, n, turn) VALUES (?, ?, ?)");
    this.#insertNew = db.prepare(
      "INSERT OR IGNORE INTO turns (session_id, n, turn) VALUES (?, ?, ?)",
    );
    this.#oldest = db.prepare(
      `SELECT n, length(CAST(turn AS BLOB)) AS bytes FROM turns
       WHERE session_id = ? AND n > ? ORDER BY n LIMIT 1`,
    );
    this.#below = db.prepare("SELECT 1 AS x FROM turns WHERE session_id = ? AND n < ? LIMIT 1");
    this.#turnAt = db.prepare(
      "SELECT n, length(CAST(turn AS BLOB)) AS bytes FROM turns WHERE session_id = ? AND n = ?",
    );
    this.#trim = db.prepare("DELETE FROM turns WHERE session_id = ? AND n < ?");
    this.#cut = db.prepare("DELETE FROM turns WHERE session_id = ? AND n >= ?");
    this.#claim = db.prepare("INSERT OR IGNORE INTO owners (session_id, owner) VALUES (?, ?)");
    this.#owner = db.prepare("SELECT owner FROM owners WHERE session_id = ?");
    this.#sweep = SWEEP.map((sql) => db.prepare(sql));
    this.#forget = ["turns", "owners"].map((table) =>
      db.prepare(`DELETE FROM ${table} WHERE session_id = ?`)
    );
    this.#touch = db.prepare(
      `UPDATE chats SET at = ?, expires_at = ? WHERE owner = ? AND session_id = ?
       AND (expires_at IS NULL OR expires_at > ?)`,
    );
    this.#writes = new SqliteGroupCommit(db, { before: () => this.#sweepExpired(Date.now()) });
  }

  /**
   * Opens (creating) the SQLite file at `path` with `bun:sqlite` (`:memory:`
   * for in-memory; see {@link openSqliteFile}). Only works on Bun.
   */
  static async open(
    path: string,
    options: SessionStoreOptions,
  ): Promise<SqliteSessionStore> {
    return new SqliteSessionStore(await openSqliteFile(path), options);
  }

  /** Deletes what expired, at most once per tenth of the TTL (one index range scan). */
  #sweepExpired(now: number): void {
    if (now - this.#sweptAt < this.#limits.historyTtlMs / 10) return;
    this.#sweptAt = now;
    for (const statement of this.#sweep) statement.run(now);
  }

  /**
   * Runs `body` in a `BEGIN IMMEDIATE` transaction now (with the writes
   * queued before it, see {@link SqliteGroupCommit}); `what` names it in the error.
   */
  #transaction<T>(what: string, body: () => T): Promise<T> {
    let result: T;
    const committed = this.#writes.commitNow({ what, run: () => result = body() });
    return committed.then(() => result);
  }

  load(sessionId: string): Promise<Turn[]> {
    this.#writes.flush();
    const now = Date.now();
    const stamp = this.#expiry.get(sessionId) as { expires_at: number } | undefined | null;
    const expiresAt = stamp ? Number(stamp.expires_at) : undefined;
    if (isExpired(expiresAt, now)) return Promise.resolve([]);
    // Pushed at most once per tenth of the TTL, as in KV: most reads write nothing.
    const ttl = this.#limits.historyTtlMs;
    if (stamp && refreshDue(expiresAt, ttl, now)) this.#refresh.run(now + ttl, sessionId);
    const rows = this.#load.all(sessionId, this.#window) as { turn: string }[];
    return Promise.resolve(rows.map((row) => JSON.parse(row.turn) as Turn).reverse());
  }

  listChats(owner: string): Promise<ChatEntry[]> {
    this.#writes.flush();
    const rows = this.#db.prepare(
      `SELECT session_id, title, at FROM chats WHERE owner = ?
       AND (expires_at IS NULL OR expires_at > ?) ORDER BY at DESC LIMIT ?`,
    ).all(owner, Date.now(), MAX_CHATS) as { session_id: string; title: string; at: number }[];
    return Promise.resolve(
      rows.map((row) => ({ sessionId: row.session_id, title: row.title, at: Number(row.at) })),
    );
  }

  async saveChat(owner: string, entry: ChatEntry): Promise<string[]> {
    this.#writes.flush();
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

  /** Joins the group commit: a finished answer's turn and its chat's touch share a transaction. */
  touchChat(owner: string, sessionId: string): Promise<void> {
    const now = Date.now();
    return this.#writes.commit({
      what: `touch chat "${sessionId}"`,
      run: () => this.#touch.run(now, now + this.#limits.historyTtlMs, owner, sessionId, now),
    });
  }

  removeChat(owner: string, sessionId: string): Promise<boolean> {
    this.#writes.flush();
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
    return this.#transaction(`truncate history: session "${sessionId}"`, () => {
      const rows = this.#sizes.all(sessionId) as { n: number; bytes: number }[];
      // `load`'s window, oldest first: the first dropped turn and all after it go.
      const first = Math.max(0, rows.length - this.#window) + Math.max(0, keep);
      if (first >= rows.length) return;
      this.#cut.run(sessionId, rows[first].n);
      const bytes = rows.slice(0, first).reduce((sum, row) => sum + Number(row.bytes), 0);
      const { next } = this.#next.get(sessionId) as { next: number };
      this.#db.prepare("UPDATE sessions SET turns = ?, bytes = ?, next = ? WHERE session_id = ?")
        .run(first, bytes, next, sessionId);
    });
  }

  /**
   * Appends in the transaction of its group ({@link SqliteGroupCommit}):
   * the turn, then the oldest turns over the bounds go (only when there are
   * some), and the session's row keeps the new expiry and what it holds.
   */
  append(sessionId: string, turn: Turn): Promise<void> {
    const { json: value } = storedTurn(turn);
    const size = turnBytes(value);
    const now = Date.now();
    return this.#writes.commit({
      what: `append turn: session "${sessionId}"`,
      run: () => this.#appendNow(sessionId, { value, size, now }),
    });
  }

  /**
   * The append's statements, inside its group's transaction: reads the
   * session's row, inserts the turn, drops what is over the bounds, saves
   * the row: three statements, six when a turn drops (when the row knows
   * what the session holds).
   */
  #appendNow(sessionId: string, turn: { value: string; size: number; now: number }): void {
    const { value, size, now } = turn;
    const row = this.#held.get(sessionId) as SessionRow | undefined | null;
    const expired = isExpired(row ? Number(row.expires_at) : undefined, now);
    if (expired) this.#trim.run(sessionId, Number.MAX_SAFE_INTEGER);
    let next = row && row.next !== null ? Number(row.next) : -1;
    let held: Held | undefined;
    // At the row's `next`, unless a writer that keeps no counts put a turn there: then after the last.
    if (next >= 0 && Number(this.#insertNew.run(sessionId, next, value).changes) === 1) {
      if (expired) held = { turns: 1, bytes: size };
      else if (row && row.turns !== null && row.bytes !== null) {
        held = { turns: Number(row.turns) + 1, bytes: Number(row.bytes) + size };
      }
    } else {
      next = (this.#next.get(sessionId) as { next: number }).next;
      this.#insert.run(sessionId, next, value);
    }
    held ??= this.#counted(sessionId);
    held = this.#dropOldest(sessionId, held, next - held.turns + 1);
    this.#save.run(sessionId, now + this.#limits.historyTtlMs, held.turns, held.bytes, next + 1);
  }

  /** What the session holds, counted. */
  #counted(sessionId: string): Held {
    const counted = this.#count.get(sessionId) as { turns: number; bytes: number };
    return { turns: Number(counted.turns), bytes: Number(counted.bytes) };
  }

  /**
   * Deletes the session's oldest turns while `held` is over the bounds; what
   * it holds after. `first` is the number its oldest turn has when its turns
   * are numbered without gaps, as appends, trims and cuts leave them.
   */
  #dropOldest(sessionId: string, held: Held, first: number): Held {
    if (!overBounds(held, this.#bounds)) return held;
    // No turn below `first`: from there each next turn is found by its number.
    let from = first > 0 && !this.#below.get(sessionId, first) ? first : 0;
    let last = -1;
    while (overBounds(held, this.#bounds)) {
      const row = this.#turnFrom(sessionId, from);
      if (!row) break;
      last = Number(row.n);
      from = last + 1;
      held = { turns: held.turns - 1, bytes: held.bytes - Number(row.bytes) };
    }
    if (last >= 0) this.#trim.run(sessionId, last + 1);
    return held;
  }

  /**
   * The session's first turn numbered `from` or more: its number and stored
   * bytes. Tried by its exact number first (on `bun:sqlite` an ordered
   * lookup costs several times an equality probe).
   */
  #turnFrom(sessionId: string, from: number): { n: number; bytes: number } | undefined {
    const row = this.#turnAt.get(sessionId, from) ?? this.#oldest.get(sessionId, from - 1);
    return (row ?? undefined) as { n: number; bytes: number } | undefined;
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
    this.#writes.close();
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
