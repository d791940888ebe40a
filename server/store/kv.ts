/**
 * Session history in Deno KV: a bounded window of turns per session.
 *
 * Keys: `["sessions", id, "meta"]` holds the next turn number;
 * `["sessions", id, "turns", n]` holds turn `n`;
 * `["sessions", id, "owner"]` holds the identity that claimed it. Appends are atomic
 * (checked against the meta versionstamp), so concurrent writers from many
 * isolates never overwrite each other.
 * @module
 */
import type { Turn } from "../agents/types.ts";
import type { SessionStore } from "./types.ts";

/** KV refuses values over 64 KiB; stay well under it. */
const MAX_VALUE_BYTES = 60_000;
const MAX_ATTEMPTS = 10;

interface Meta {
  next: number;
}

/** Shrinks a turn until its serialised form fits in one KV value. */
export function fitTurn(turn: Turn): Turn {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes: most turns fit without encoding.
  if (JSON.stringify(turn).length * 3 <= MAX_VALUE_BYTES) return turn;
  const encoder = new TextEncoder();
  let fitted = turn;
  while (encoder.encode(JSON.stringify(fitted)).length > MAX_VALUE_BYTES) {
    const answer = fitted.answer.slice(0, Math.floor(fitted.answer.length / 2));
    const query = answer.length === 0
      ? fitted.query.slice(0, Math.floor(fitted.query.length / 2))
      : fitted.query;
    fitted = { ...fitted, query, answer };
  }
  return fitted;
}

/**
 * Opens Deno KV: a file at `path` (its folder is created), `:memory:`, or
 * the platform's default database when `path` is undefined (Deno Deploy).
 */
export async function openKv(path: string | undefined): Promise<Deno.Kv> {
  if (path && path !== ":memory:") {
    const dir = path.replace(/[^/]*$/, "");
    if (dir) await Deno.mkdir(dir, { recursive: true });
  }
  return await Deno.openKv(path);
}

/** A {@link SessionStore} over a Deno KV database. */
export class KvSessionStore implements SessionStore {
  #kv: Deno.Kv;
  #window: number;

  /** Wraps an open KV database; keeps the last `window` turns per session. */
  constructor(kv: Deno.Kv, options: { window: number }) {
    this.#kv = kv;
    this.#window = options.window;
  }

  /** Opens KV at `path` (`:memory:` for in-memory, `undefined` for the platform default). */
  static async open(
    path: string | undefined,
    options: { window: number },
  ): Promise<KvSessionStore> {
    return new KvSessionStore(await openKv(path), options);
  }

  async load(sessionId: string): Promise<Turn[]> {
    const turns: Turn[] = [];
    const entries = this.#kv.list<Turn>(
      { prefix: ["sessions", sessionId, "turns"] },
      { reverse: true, limit: this.#window },
    );
    for await (const entry of entries) turns.push(entry.value);
    return turns.reverse();
  }

  async append(sessionId: string, turn: Turn): Promise<void> {
    const metaKey = ["sessions", sessionId, "meta"];
    const value = fitTurn(turn);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const meta = await this.#kv.get<Meta>(metaKey);
      const n = meta.value?.next ?? 0;
      const op = this.#kv.atomic()
        .check(meta)
        .set(metaKey, { next: n + 1 } satisfies Meta)
        .set(["sessions", sessionId, "turns", n], value);
      if (n - this.#window >= 0) {
        op.delete(["sessions", sessionId, "turns", n - this.#window]);
      }
      const result = await op.commit();
      if (result.ok) return;
    }
    throw new Error(`Cannot append turn: session "${sessionId}" kept changing`);
  }

  async claim(sessionId: string, owner: string): Promise<boolean> {
    const key = ["sessions", sessionId, "owner"];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.#kv.get<string>(key);
      if (current.value !== null) return current.value === owner;
      const result = await this.#kv.atomic().check(current).set(key, owner).commit();
      if (result.ok) return true;
    }
    throw new Error(`Cannot claim session: session "${sessionId}" kept changing`);
  }

  close(): void {
    this.#kv.close();
  }
}
