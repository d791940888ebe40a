/**
 * Runs the session-store contract, {@link SQLITE_STORE_CASES}, {@link SQLITE_GROUP_CASES} and
 * {@link BUN_SQLITE_CASES} on Bun over `bun:sqlite` and prints one
 * JSON line per case (`{"name","ok","error"?}`); exits 1 when any fails.
 * Started by `tests/sqlite_store_test.ts`; by hand:
 *
 *     bun tests/helpers/sqlite_store_bun.ts
 * @module
 */
import process from "node:process";
import { openSqliteFile, SqliteSessionStore } from "../../server/store/sqlite.ts";
import { BUN_SQLITE_CASES, SQLITE_GROUP_CASES } from "./sqlite_group_cases.ts";
import { type OpenStore, SQLITE_STORE_CASES, withTempDir } from "./sqlite_store_cases.ts";
import { SESSION_STORE_CASES } from "./store_contracts.ts";

const open: OpenStore = (path, window, limits) =>
  SqliteSessionStore.open(path, { window, ...limits });
const cases = [
  ...SESSION_STORE_CASES.map(({ name, run }) => ({
    name,
    run: () => run((window, limits) => open(":memory:", window, limits)),
  })),
  ...SQLITE_STORE_CASES.map(({ name, run }) => ({
    name,
    run: () => withTempDir((dir) => run(open, dir)),
  })),
  ...[...SQLITE_GROUP_CASES, ...BUN_SQLITE_CASES].map(({ name, run }) => ({
    name,
    run: () => withTempDir((dir) => run(openSqliteFile, dir)),
  })),
];

for (const { name, run } of cases) {
  try {
    await run();
    console.log(JSON.stringify({ name, ok: true }));
  } catch (error) {
    const detail = error instanceof Error ? error.stack ?? error.message : String(error);
    console.log(JSON.stringify({ name, ok: false, error: detail }));
    process.exitCode = 1;
  }
}
