/**
 * What a KV file holds of a session, read from outside the server.
 * @module
 */
import { openKv } from "../../server/store/kv.ts";

/** Every key of the KV file at `path` that names `sessionId`, but the stream log's. */
export async function keysOf(path: string, sessionId: string): Promise<string[]> {
  const kv = await openKv(path);
  const found: string[] = [];
  for await (const entry of kv.list({ prefix: [] })) {
    const key = entry.key.map(String);
    if (key.includes(sessionId) && key[0] !== "streams" && key[0] !== "active") {
      found.push(key.join("/"));
    }
  }
  kv.close();
  return found;
}
