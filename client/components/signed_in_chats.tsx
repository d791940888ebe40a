/**
 * The signed-in identity's chats (the server renders no list with
 * authentication on: it cannot tell who is signed in), each with a Delete
 * button that removes the chat and everything of it through the API.
 * Deleting the current chat starts a new one (a new stored session id and
 * a reload, as New chat does without the reload).
 * @module
 */
import { useSignal } from "@preact/signals";
import type { JSX } from "preact";
import { useEffect } from "preact/hooks";
import { browserPersistence, storedSessionId } from "../prefs.ts";
import { deleteSession, listSessions, type SessionEntry } from "../sessions_api.ts";

/** The list of `token`'s chats with Delete. */
export function SignedInChats({ token }: { token: string }): JSX.Element | null {
  const chats = useSignal<SessionEntry[]>([]);
  const error = useSignal("");
  const api = { origin: location.origin, token };
  useEffect(() => {
    listSessions(api).then(
      (found) => (chats.value = found),
      (failed) => (error.value = failed.message),
    );
  }, [token]);
  const remove = async (id: string) => {
    try {
      await deleteSession(id, api);
      chats.value = chats.value.filter((chat) => chat.session_id !== id);
      if (storedSessionId() === id) {
        browserPersistence.saveSession(crypto.randomUUID());
        location.reload();
      }
    } catch (failed) {
      error.value = (failed as Error).message;
    }
  };
  if (chats.value.length === 0 && !error.value) return null;
  return (
    <details class="chats-menu">
      <summary>Chats ({chats.value.length})</summary>
      <nav aria-label="Conversations">
        <ul>
          {chats.value.map((chat) => (
            <li key={chat.session_id} class="chat-item">
              <span class="chat-title">{chat.title}</span>
              <button
                type="button"
                aria-label={`Delete ${chat.title}`}
                onClick={() => remove(chat.session_id)}
              >
                Delete
              </button>
            </li>
          ))}
        </ul>
        {error.value ? <output class="sign-in-error">{error.value}</output> : null}
      </nav>
    </details>
  );
}
