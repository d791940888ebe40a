/**
 * Runs {@link SQLITE_STORE_CASES} on Bun over `bun:sqlite` and prints one
 * JSON line per case (`{"name","ok","error"?}`); exits 1 when any fails.
 * Started by `tests/sqlite_store_test.ts`; by hand:
 *
 *     bun tests/helpers/sqlite_store_bun.ts
 * @module
 */
import process from "node:process";
import { SqliteSessionStore } from "../../server/store/sqlite.ts";
import { type OpenStore, SQLITE_STORE_CASES, withTempDir } from "./sqlite_store_cases.ts";

const open: OpenStore = (path, window) => SqliteSessionStore.open(path, { window });

for (const { name, run } of SQLITE_STORE_CASES) {
  try {
    await withTempDir((dir) => run(open, dir));
    console.log(JSON.stringify({ name, ok: true }));
  } catch (error) {
    const detail = error instanceof Error ? error.stack ?? error.message : String(error);
    console.log(JSON.stringify({ name, ok: false, error: detail }));
    process.exitCode = 1;
  }
}
