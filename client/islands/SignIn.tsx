/**
 * The sign-in island, shown when the server requires authentication: a
 * token field whose value is checked by trading it for a ticket, then kept
 * in `sessionStorage` (`client/auth.ts`); the page reloads so the chat
 * connects with it. Signed in, it offers to sign out.
 * @module
 */
import { useSignal } from "@preact/signals";
import type { JSX } from "preact";
import { useEffect } from "preact/hooks";
import { requestTicket, saveToken, SignInRefused, storedToken } from "../auth.ts";

/** The sign-in island; it takes no props. */
export default function SignIn(): JSX.Element {
  const signedIn = useSignal(false);
  const token = useSignal("");
  const error = useSignal("");
  const busy = useSignal(false);
  useEffect(() => {
    signedIn.value = storedToken() !== undefined;
  }, []);

  const submit = async (event: Event) => {
    event.preventDefault();
    const value = token.value.trim();
    if (!value || busy.value) return;
    busy.value = true;
    error.value = "";
    try {
      await requestTicket(location.origin, value);
      saveToken(value);
      location.reload();
    } catch (cause) {
      error.value = cause instanceof SignInRefused
        ? "That token was refused"
        : `Cannot sign in: ${cause instanceof Error ? cause.message : String(cause)}`;
    } finally {
      busy.value = false;
    }
  };
  const signOut = () => {
    saveToken(undefined);
    location.reload();
  };

  if (signedIn.value) {
    return (
      <p class="sign-in" data-testid="signed-in">
        Signed in <button type="button" onClick={signOut}>Sign out</button>
      </p>
    );
  }
  return (
    <form class="sign-in" onSubmit={submit}>
      <label for="auth-token">This server requires a token</label>
      <input
        id="auth-token"
        type="password"
        autocomplete="current-password"
        placeholder="Access token"
        value={token.value}
        onInput={(e) => token.value = (e.target as HTMLInputElement).value}
      />
      <button type="submit" disabled={busy.value}>Sign in</button>
      {error.value ? <span class="sign-in-error" role="alert">{error.value}</span> : null}
    </form>
  );
}
