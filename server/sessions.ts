/**
 * The caller's sessions over HTTP: `GET /api/sessions` lists them and
 * deleting one and everything of it is the one function behind both ways
 * in: `DELETE /api/sessions/{id}` (JSON, bearer token or cookie) and the
 * conversation list's no-JS form `POST /chats/{id}/delete`. Only the
 * owner that lists the chat (the identity with authentication on, else the
 * browser's cookie, see `guards/owner.ts`) may delete it; to anyone else it
 * is unknown, whether or not it exists.
 *
 * What goes: a running answer of the session (stopped first, so it cannot
 * save its turn after the delete), the chat list entry, the history and
 * the owner mark, the uploads, and the session's latest answer in the
 * stream log (earlier answers are not indexed by session and expire after
 * `STREAM_TTL_MS`).
 * @module
 */
import type { Handler } from "hono";
import { ErrorCode, ID_PATTERN } from "../protocol/codes.ts";
export { SESSIONS_PATH } from "../protocol/codes.ts";
import { delay } from "./delay.ts";
import type { GuardEnv } from "./guards/env.ts";
import { chatOwner } from "./guards/owner.ts";
import { errorResponse } from "./http_error.ts";
import type { SessionStore, UploadStore } from "./store/types.ts";
import type { StreamHub } from "./streams/hub.ts";

/** Longest wait for a running answer of a deleted session to stop. */
const STOP_WAIT_MS = 5_000;

/** What deleting a session touches. */
export interface SessionDeps {
  hub: StreamHub;
  history: SessionStore;
  uploads: UploadStore;
}

/** Which session to delete, for whom. */
export interface DeleteRequest {
  /** The caller as chats are listed ({@link chatOwner}). */
  owner: string;
  sessionId: string;
  /** The authenticated identity, when authentication is on (whose answers may be stopped). */
  identity?: string;
}

/**
 * Deletes `request.sessionId` and everything of it when `request.owner`
 * lists it; false (nothing touched) otherwise.
 */
export async function deleteSession(deps: SessionDeps, request: DeleteRequest): Promise<boolean> {
  const { owner, sessionId, identity } = request;
  const chats = await deps.history.listChats(owner);
  if (!chats.some((chat) => chat.sessionId === sessionId)) return false;
  await stopAnswer(deps.hub, sessionId, identity);
  if (!await deps.history.removeChat(owner, sessionId)) return false;
  await deps.uploads.deleteSession(sessionId);
  await deps.hub.streamLog.forget(sessionId);
  return true;
}

/** Stops the session's running answer, here or elsewhere, and waits (bounded) until it ended. */
async function stopAnswer(hub: StreamHub, sessionId: string, identity?: string): Promise<void> {
  const requestId = await hub.latest(sessionId, identity);
  if (requestId === undefined) return;
  const local = hub.local(requestId);
  const waited = new AbortController();
  if (local) {
    local.cancel();
    await Promise.race([local.done, delay(STOP_WAIT_MS, waited.signal)]);
    waited.abort();
    return;
  }
  if (!await hub.cancel(requestId, identity)) return;
  const deadline = Date.now() + STOP_WAIT_MS;
  while (Date.now() < deadline) {
    const read = await hub.streamLog.read(requestId, Number.MAX_SAFE_INTEGER);
    if (!read || read.ended || !read.alive) return;
    await hub.streamLog.waitForEvents(requestId, {
      next: read.next,
      timeoutMs: deadline - Date.now(),
    });
  }
}

/**
 * `DELETE /api/sessions/{id}`: 204 when deleted; 404 (`not_found`, JSON)
 * for a session that is unknown or not the caller's, alike. Mount it
 * behind the authentication guard (and an origin check).
 */
export function deleteSessionHandler(deps: SessionDeps): Handler<GuardEnv> {
  return async (c) => {
    const id = c.req.param("id") ?? "";
    const owner = chatOwner(c);
    const deleted = owner !== undefined && ID_PATTERN.test(id) &&
      await deleteSession(deps, { owner, sessionId: id, identity: c.get("identity") });
    if (!deleted) {
      const shown = JSON.stringify(id.slice(0, 64));
      return errorResponse(c, 404, ErrorCode.NotFound, `Cannot delete session ${shown}: not found`);
    }
    return c.body(null, 204);
  };
}

/**
 * `GET /api/sessions`: the caller's chats, most recently active first
 * (`{ sessions: [{ session_id, title, at }] }`; none without an owner).
 * Mount it behind the authentication guard.
 */
export function listSessionsHandler(history: SessionStore): Handler<GuardEnv> {
  return async (c) => {
    const owner = chatOwner(c);
    const chats = owner === undefined ? [] : await history.listChats(owner);
    c.header("cache-control", "no-store");
    return c.json({
      sessions: chats.map((chat) => ({
        session_id: chat.sessionId,
        title: chat.title,
        at: chat.at,
      })),
    });
  };
}
