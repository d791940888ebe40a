/**
 * Opens a Deno KV database: the one place that knows where it lives.
 * @module
 */

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
