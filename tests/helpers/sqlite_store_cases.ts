/**
 * Cases for {@link SqliteSessionStore} beyond the session-store contract
 * (files, several connections, value size), runtime-neutral (`node:` modules
 * only, so `node:assert` rather than `@std/assert`, which Bun cannot map):
 * `tests/sqlite_store_test.ts` runs them on Deno over `node:sqlite`,
 * and on Bun over `bun:sqlite` through `tests/helpers/sqlite_store_bun.ts`.
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import type { StoreLimits } from "../../server/store/retention.ts";
import type { SqliteSessionStore } from "../../server/store/sqlite.ts";
import { turn } from "./store_contracts.ts";

/** Opens a store on the SQLite file at `path` (`:memory:` allowed), within `limits`. */
export type OpenStore = (
  path: string,
  window: number,
  limits?: Partial<StoreLimits>,
) => Promise<SqliteSessionStore>;

/** One case: a name and a body given the opener and a fresh temporary directory. */
export interface StoreCase {
  name: string;
  run(open: OpenStore, dir: string): Promise<void>;
}

/** The SQLite-specific cases, in order (the contract's run before them). */
export const SQLITE_STORE_CASES: StoreCase[] = [
  {
    name: "history survives closing and reopening the file",
    async run(open, dir) {
      const path = join(dir, "nested", "chat.sqlite");
      const first = await open(path, 10);
      await first.append("s1", turn("one"));
      await first.append("s1", turn("two"));
      await first.append("other", turn("elsewhere"));
      first.close();
      const second = await open(path, 10);
      const history = await second.load("s1");
      second.close();
      assert.deepEqual(history.map((t) => t.query), ["one", "two"]);
      assert.deepEqual(history[1].answer, "answer to two");
      assert.deepEqual(history[1].finishReason, "stop");
    },
  },
  {
    name: "two connections to one file interleave appends without losing any",
    async run(open, dir) {
      const path = join(dir, "shared.sqlite");
      const a = await open(path, 100);
      const b = await open(path, 100);
      try {
        for (let i = 0; i < 10; i++) {
          await (i % 2 ? a : b).append("s", turn(`q${i}`));
        }
        const queries = (await a.load("s")).map((t) => t.query);
        assert.deepEqual(queries, Array.from({ length: 10 }, (_, i) => `q${i}`));
      } finally {
        a.close();
        b.close();
      }
    },
  },
  {
    name: "the first claim of a session wins, even across connections",
    async run(open, dir) {
      const path = join(dir, "owners.sqlite");
      const a = await open(path, 5);
      const b = await open(path, 5);
      try {
        assert.equal(await a.claim("s", "alice"), true);
        assert.equal(await b.claim("s", "bob"), false);
        assert.equal(await b.claim("s", "alice"), true);
        assert.equal(await b.claim("other", "bob"), true);
      } finally {
        a.close();
        b.close();
      }
    },
  },
  {
    name: "a huge turn is shrunk like in KV and stored",
    async run(open) {
      const store = await open(":memory:", 5);
      try {
        await store.append("s", turn("big", "界".repeat(100_000)));
        const [stored] = await store.load("s");
        assert.deepEqual(stored.query, "big");
        assert.ok(stored.answer.length > 1000);
        assert.ok(new TextEncoder().encode(JSON.stringify(stored)).length < 64 * 1024);
      } finally {
        store.close();
      }
    },
  },
];

/** Runs `body` with a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "chat-sqlite-"));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
