/**
 * Who owns a list of chats: the authenticated identity when authentication
 * is on, else the browser, named by its `chat_owner` cookie (set by the page).
 * @module
 */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { ID_PATTERN } from "../../protocol/codes.ts";
import { OWNER_COOKIE } from "../../protocol/page.ts";

/** The owner of the caller's chats, or undefined (no identity, no valid cookie). */
export function chatOwner(c: Context): string | undefined {
  const identity = c.get("identity") as string | undefined;
  if (identity !== undefined) return `id:${identity}`;
  const cookie = getCookie(c, OWNER_COOKIE);
  return cookie && ID_PATTERN.test(cookie) ? `browser:${cookie}` : undefined;
}
