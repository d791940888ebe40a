/**
 * The sign-in island, shown when the server requires authentication: a
 * token field whose value is checked by trading it for a ticket, then kept
 * in `sessionStorage` (`client/auth.ts`); the page reloads so the chat
 * connects with it. Signed in, it offers to sign out and lists the
 * identity's chats, each with Delete (`components/signed_in_chats.tsx`).
 * @module
 */
import { useSignal } from "@preact/signals";
import type { JSX } from "preact";
import { useEffect } from "preact/hooks";
import { requestTicket, saveToken, storedToken } from "../auth.ts";
import { SignedInChats } from "../components/signed_in_chats.tsx";

/** Keeps `token` (none: signs out) and reloads, so the chat connects (or not) with it. */
function keep(token?: string): void {
  saveToken(token);
  location.reload();
}

/** The sign-in island; it takes no props. */
export default function SignIn(): JSX.Element {
  /** "in" once signed in, else the last error ("" for none). */
  const state = useSignal("");
  useEffect(() => {
    if (storedToken()) state.value = "in";
  }, []);
  const token = state.value === "in" ? storedToken() : undefined;
  if (token) {
    return (
      <div>
        <p class="sign-in signed-in">
          Signed in <button type="button" onClick={() => keep()}>Sign out</button>
        </p>
        <SignedInChats token={token} />
      </div>
    );
  }
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const token = (form.elements.namedItem("token") as HTMLInputElement).value.trim();
    try {
      await requestTicket(location.origin, token);
      keep(token);
    } catch (error) {
      state.value = (error as Error).message;
    }
  };
  return (
    <form class="sign-in" onSubmit={submit}>
      <label>
        Access token <input name="token" type="password" />
      </label>
      <button type="submit">Sign in</button>
      <output class="sign-in-error">{state.value}</output>
    </form>
  );
}
