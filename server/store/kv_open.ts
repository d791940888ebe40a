/**
 * Opens a Deno KV database (the one place that knows where it lives) and
 * runs writes on it that another process sharing its file may hold up.
 * @module
 */
import { retry } from "../retry.ts";

/** Attempts at a write while another process holds a shared file's lock. */
const LOCKED_ATTEMPTS = 14;

/**
 * Runs a KV write, again after a pause while it fails with "database is
 * locked": processes sharing a local KV file take its write lock in turn,
 * and KV gives up at once when another holds it (a transaction that failed
 * so changed nothing). Other errors, and the last one, are thrown.
 */
export function whenUnlocked<T>(write: () => Promise<T>): Promise<T> {
  return retry(write, {
    attempts: LOCKED_ATTEMPTS,
    // Growing, jittered pauses (about 2 s in all): writers that collided spread out.
    pauseMs: (attempt) => Math.min(250, 2 ** attempt) * (0.5 + Math.random()),
    retryable: (error) => error instanceof Error && /database is locked/.test(error.message),
  });
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
