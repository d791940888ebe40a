/**
 * The storage contract run against the in-process backends: memory and
 * Deno KV (`:memory:`). SQLite's session store runs it in
 * `sqlite_store_test.ts` (Deno and Bun).
 * @module
 */
import { openKvBackend } from "../server/store/kv.ts";
import { openMemoryBackend } from "../server/store/memory.ts";
import {
  sessionStoreContract,
  streamLogContract,
  uploadStoreContract,
} from "./helpers/store_contracts.ts";

const TTL_MS = 60_000;

const BACKENDS = {
  memory: (window = 10) => Promise.resolve(openMemoryBackend({ window, ttlMs: TTL_MS })),
  kv: (window = 10) => openKvBackend(":memory:", { window, ttlMs: TTL_MS }),
};

for (const [name, open] of Object.entries(BACKENDS)) {
  sessionStoreContract(name, async (window) => (await open(window)).history);
  streamLogContract(name, () => open());
  uploadStoreContract(name, () => open());
}
