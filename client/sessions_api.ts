/**
 * The signed-in identity's chats over the API: list them
 * (`GET /api/sessions`) and delete one and everything of it
 * (`DELETE /api/sessions/{id}`), with the tab's bearer token.
 * @module
 */
import { SESSIONS_PATH } from "../protocol/codes.ts";

/** One chat of the list. */
export interface SessionEntry {
  session_id: string;
  title: string;
  /** Epoch ms of its last activity. */
  at: number;
}

/** Where and as whom the API is called. */
export interface ApiOptions {
  origin: string;
  token: string;
  fetch?: typeof fetch;
}

/** The error of a failed call: the service's error message, else the status. */
async function failure(response: Response, what: string): Promise<Error> {
  const body = await response.json().catch(() => undefined);
  const message = body?.error?.message ?? `HTTP ${response.status}`;
  return new Error(`Cannot ${what}: ${message}`);
}

/** The identity's chats, most recently active first. @throws {Error} when refused */
export async function listSessions(options: ApiOptions): Promise<SessionEntry[]> {
  const call = options.fetch ?? fetch;
  const response = await call(options.origin + SESSIONS_PATH, {
    headers: { Authorization: `Bearer ${options.token}` },
    cache: "no-store",
  });
  if (!response.ok) throw await failure(response, "list chats");
  return (await response.json()).sessions;
}

/** Deletes chat `id` and everything of it. @throws {Error} when refused (404: not yours or gone) */
export async function deleteSession(id: string, options: ApiOptions): Promise<void> {
  const call = options.fetch ?? fetch;
  const response = await call(`${options.origin}${SESSIONS_PATH}/${encodeURIComponent(id)}`, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${options.token}` },
  });
  if (!response.ok) throw await failure(response, "delete chat");
  await response.body?.cancel();
}
