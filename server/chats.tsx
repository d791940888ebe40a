/**
 * The list of past chats: a server-rendered `<nav>` (links to switch, a
 * form to rename, one to delete, so it works without JavaScript and costs
 * the page no script bytes) and the form handlers. Chats are kept per owner
 * in the session store (see `guards/owner.ts`); deleting one removes
 * everything of the session from the store (`sessions.ts`, shared with
 * `DELETE /api/sessions/{id}`).
 * @module
 */
import { Hono } from "hono";
import type { JSX } from "preact";
import { ID_PATTERN } from "../protocol/codes.ts";
import { chatOwner } from "./guards/owner.ts";
import { originGuard } from "./guards/origin.ts";
import { errorResponse } from "./http_error.ts";
import { ErrorCode } from "../protocol/codes.ts";
import { deleteSession, type SessionDeps } from "./sessions.ts";
import type { ChatEntry, SessionStore } from "./store/types.ts";

/** Longest chat title, in characters. */
const MAX_TITLE = 80;

/** The owner's chats, or none when the store fails (the page still renders). */
export async function loadChats(store: SessionStore, owner: string): Promise<ChatEntry[]> {
  try {
    return await store.listChats(owner);
  } catch (error) {
    console.error(`Cannot list chats: ${error}`);
    return [];
  }
}

/** The conversations `<nav>`: each chat a link named by its title, with Rename and Delete. */
export function ChatsNav(
  { chats, current }: { chats: ChatEntry[]; current?: string },
): JSX.Element | null {
  if (chats.length === 0) return null;
  return (
    <details class="chats-menu">
      <summary>Chats ({chats.length})</summary>
      <nav aria-label="Conversations">
        <ul>
          {chats.map((chat) => (
            <li key={chat.sessionId} class="chat-item">
              <a
                href={`/?chat=${chat.sessionId}`}
                aria-current={chat.sessionId === current ? "page" : undefined}
              >
                {chat.title}
              </a>
              <details class="rename">
                <summary aria-label={`Rename ${chat.title}`}>Rename</summary>
                <form method="post" action={`/chats/${chat.sessionId}/rename`}>
                  <input
                    name="title"
                    value={chat.title}
                    maxLength={MAX_TITLE}
                    required
                    aria-label={`New title for ${chat.title}`}
                  />
                  <button type="submit">Save</button>
                </form>
              </details>
              <form method="post" action={`/chats/${chat.sessionId}/delete`}>
                <button type="submit" aria-label={`Delete ${chat.title}`}>Delete</button>
              </form>
            </li>
          ))}
        </ul>
      </nav>
    </details>
  );
}

/** `POST /chats/{id}/rename` and `POST /chats/{id}/delete`; both answer 303 to `/`. */
export function chatRoutes(
  deps: SessionDeps,
  options: { allowedOrigins: readonly string[] },
): Hono {
  const store = deps.history;
  const app = new Hono();
  app.use("/chats/*", originGuard(options.allowedOrigins));
  app.post("/chats/:id/:action{rename|delete}", async (c) => {
    const id = c.req.param("id");
    const owner = chatOwner(c);
    if (!owner || !ID_PATTERN.test(id)) {
      return errorResponse(c, 404, ErrorCode.NotFound, `Cannot change chat "${id}": not yours`);
    }
    const listed = (await store.listChats(owner)).find((chat) => chat.sessionId === id);
    if (!listed) {
      return errorResponse(c, 404, ErrorCode.NotFound, `Cannot change chat "${id}": not yours`);
    }
    if (c.req.param("action") === "delete") {
      await deleteSession(deps, { owner, sessionId: id });
    } else {
      const form = await c.req.parseBody();
      const title = String(form.title ?? "").trim().slice(0, MAX_TITLE);
      // A rename never adds a chat; it evicts only if the cap was lowered since.
      const evicted = title ? await store.saveChat(owner, { ...listed, title }) : [];
      for (const other of evicted) await deps.uploads.deleteSession(other);
    }
    return c.redirect("/", 303);
  });
  return app;
}
