/**
 * Browser sign-in for a server that requires authentication: the access
 * token is kept in `sessionStorage` (this tab only, gone when it closes),
 * and every connection trades it for a short-lived ticket
 * (`POST /auth/ticket` with `Authorization: Bearer`) passed as `?ticket=`,
 * so the token itself never appears in a URL or a server log.
 * @module
 */
import { AUTH_TICKET_PATH } from "../protocol/codes.ts";

/** `sessionStorage` key of the access token. */
export const TOKEN_KEY = "chat.token";

/** The token kept for this tab, if any. */
export function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || undefined;
  } catch {
    return undefined;
  }
}

/** Keeps `token` for this tab; `undefined` signs out. */
export function saveToken(token: string | undefined): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the sign-in lasts until the page reloads.
  }
}

/** What {@link requestTicket} throws when the server refuses the token (HTTP 401). */
export const REFUSED = "Token refused";

/**
 * Trades `token` for a ticket at `origin`.
 * @throws {Error} with message {@link REFUSED} when the server refuses the token.
 */
export async function requestTicket(
  origin: string,
  token: string,
  fetchFn: typeof fetch = fetch,
): Promise<string> {
  const response = await fetchFn(origin + AUTH_TICKET_PATH, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!response.ok) {
    throw new Error(response.status === 401 ? REFUSED : `HTTP ${response.status}`);
  }
  return (await response.json()).ticket;
}

/**
 * `url` with a fresh `?ticket=` when a token is kept for this tab (else
 * `url` unchanged): what each new WebSocket or EventSource connects to.
 * @throws {Error} when `required` and no token is kept (nothing is sent).
 */
export async function withTicket(
  url: string,
  options: { origin: string; required?: boolean; fetch?: typeof fetch },
): Promise<string> {
  const token = storedToken();
  if (!token) {
    if (options.required) throw new Error("Sign in first");
    return url;
  }
  const withIt = new URL(url);
  withIt.searchParams.set("ticket", await requestTicket(options.origin, token, options.fetch));
  return withIt.toString();
}
