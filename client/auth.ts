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

/** The server refused the token (HTTP 401). */
export class SignInRefused extends Error {
  /** Creates the error. */
  constructor() {
    super("Cannot sign in: the server refused this token");
    this.name = "SignInRefused";
  }
}

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

/**
 * Trades `token` for a ticket at `origin`.
 * @throws {SignInRefused} when the server refuses the token.
 */
export async function requestTicket(
  origin: string,
  token: string,
  fetchFn: typeof fetch = (input, init) => fetch(input, init),
): Promise<string> {
  const response = await fetchFn(`${origin}${AUTH_TICKET_PATH}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  if (response.status === 401) {
    await response.body?.cancel();
    throw new SignInRefused();
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`Cannot get a ticket: HTTP ${response.status}`);
  }
  const { ticket } = await response.json() as { ticket?: unknown };
  if (typeof ticket !== "string") throw new Error("Cannot get a ticket: no ticket in the answer");
  return ticket;
}

/** The server requires a token and this tab has none. */
export class SignInRequired extends Error {
  /** Creates the error. */
  constructor() {
    super("Sign in first: this server requires a token");
    this.name = "SignInRequired";
  }
}

/**
 * `url` with a fresh `?ticket=` when a token is kept for this tab (else
 * `url` unchanged): what each new WebSocket or EventSource connects to.
 * @throws {SignInRequired} when `required` and no token is kept (nothing is sent).
 */
export async function withTicket(
  url: string,
  options: { origin: string; required?: boolean; fetch?: typeof fetch },
): Promise<string> {
  const token = storedToken();
  if (!token && options.required) throw new SignInRequired();
  if (!token) return url;
  const withIt = new URL(url);
  withIt.searchParams.set("ticket", await requestTicket(options.origin, token, options.fetch));
  return withIt.toString();
}
