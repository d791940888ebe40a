/**
 * The SQLite session store's database (see `sqlite.ts`): the file Bun opens
 * and its settings, and the tables, created on open, with the columns added
 * since the first release added to older files.
 * @module
 */

/** A prepared statement, as `bun:sqlite` and `node:sqlite` both offer it. */
export interface SqliteStatement {
  /** Runs it; how many rows it changed (`bun:sqlite` and `node:sqlite` both say). */
  run(...params: (string | number)[]): { changes: number | bigint };
  get(...params: (string | number)[]): unknown;
  all(...params: (string | number)[]): unknown[];
}

/** The part of a SQLite connection the store uses. */
export interface SqliteDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

/**
 * The tables. `turns` is a rowid table: its rows are large (a turn is
 * kilobytes), which a `WITHOUT ROWID` table stores inside its key's
 * B-tree, so that every lookup and insert of a session's turns moves them:
 * an append took twice as long (42 us against 19 us with 3 KB turns,
 * `bun:sqlite` in memory). Files created before keep their layout; the
 * same statements serve both.
 */
const SCHEMA = `
  PRAGMA busy_timeout = 5000;
  CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    turn TEXT NOT NULL,
    PRIMARY KEY (session_id, n)
  );
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

/** Columns added after the first release, by table: files from before get them on open. */
const ADDED_COLUMNS: Record<string, Record<string, string>> = {
  chats: { expires_at: "INTEGER" },
  // NULL: not known (a session written before them, or claimed before its first turn).
  sessions: { turns: "INTEGER", bytes: "INTEGER", next: "INTEGER" },
};

/**
 * Creates the tables `db` lacks and adds the {@link ADDED_COLUMNS} it lacks
 * (another connection adding one first is fine).
 */
export function createSchema(db: SqliteDatabase): void {
  db.exec(SCHEMA);
  for (const [table, columns] of Object.entries(ADDED_COLUMNS)) {
    const rows = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
    const present = new Set(rows.map((row) => row.name));
    for (const [name, type] of Object.entries(columns)) {
      if (present.has(name)) continue;
      try {
        db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
      } catch (error) {
        if (!String(error).includes("duplicate column")) throw error;
      }
    }
  }
}

/** What a sweep deletes (`?` is now): every row of an expired session, expired chat entries. */
export const SWEEP = [
  "DELETE FROM turns WHERE session_id IN (SELECT session_id FROM sessions WHERE expires_at <= ?)",
  "DELETE FROM owners WHERE session_id IN (SELECT session_id FROM sessions WHERE expires_at <= ?)",
  "DELETE FROM sessions WHERE expires_at <= ?",
  "DELETE FROM chats WHERE expires_at <= ?",
];

/**
 * Opens (creating, with its directory) the SQLite file at `path` with
 * `bun:sqlite` (`:memory:` for in-memory), as the store uses it. Only works
 * on Bun.
 *
 * A file is in WAL mode with `synchronous = NORMAL`: a commit is durable
 * across a crash or kill of the process and a restart, but a power loss or
 * an OS crash can lose the last commits (never corrupting the file). Deno
 * KV's own SQLite keeps SQLite's default, `FULL` (an fsync of the WAL on
 * every commit), on a thread of its own; `bun:sqlite` runs on the
 * JavaScript thread, where that fsync stalled every stream for ~0.2 ms per
 * append (266 against 58 µs a commit on this machine).
 */
export async function openSqliteFile(path: string): Promise<SqliteDatabase> {
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
  if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
  return db;
}
