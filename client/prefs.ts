/**
 * Where the session id and the transport choice are kept: `localStorage`
 * (the source of truth) mirrored into cookies so the server can render the
 * history and the selected transport on `GET /`.
 * @module
 */
import {
  parseSessionId,
  parseTransport,
  SESSION_COOKIE,
  TRANSPORT_COOKIE,
  type TransportKind,
} from "../protocol/page.ts";
import type { Persistence } from "./chat_state.ts";

/** `localStorage` key of the session id. */
export const SESSION_KEY = "chat.session_id";
/** `localStorage` key of the transport choice. */
export const TRANSPORT_KEY = "chat.transport";

function setCookie(name: string, value: string): void {
  document.cookie = `${name}=${encodeURIComponent(value)}; Path=/; ` +
    "Max-Age=31536000; SameSite=Lax";
}

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Storage can be disabled; the cookie still carries the value.
  }
}

/** The session id kept in `localStorage`, if valid. */
export function storedSessionId(): string | undefined {
  return parseSessionId(read(SESSION_KEY));
}

/** The transport kept in `localStorage`, if valid. */
export function storedTransport(): TransportKind | undefined {
  return parseTransport(read(TRANSPORT_KEY));
}

/** Persists to `localStorage` and the mirroring cookies. */
export const browserPersistence: Persistence = {
  saveSession(id) {
    write(SESSION_KEY, id);
    setCookie(SESSION_COOKIE, id);
  },
  saveTransport(kind) {
    write(TRANSPORT_KEY, kind);
    setCookie(TRANSPORT_COOKIE, kind);
  },
};
