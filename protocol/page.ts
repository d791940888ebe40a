/**
 * The page's data contracts: what the server-rendered page hands to the
 * islands (initial history, upload limit, transport choice) and the cookies
 * it reads them from. Imports nothing but codes, so browser and server share it.
 * @module
 */
import { type FinishReason, ID_PATTERN } from "./codes.ts";

/** Which wire the client uses. */
export type TransportKind = "ws" | "sse";

/** One finished turn as the server renders it (island props). */
export interface HistoryTurn {
  query: string;
  answer: string;
  finishReason: FinishReason;
  tools: string[];
}

/** Props of the Chat island; all serialisable. */
export interface ChatProps {
  /** The session the server rendered (from the `session_id` cookie). */
  sessionId?: string;
  /** The transport the server rendered as selected. */
  transport: TransportKind;
  /** The session's finished turns, oldest first. */
  history: HistoryTurn[];
  /** URL of the markdown bundle, loaded after hydration. */
  markdownUrl?: string;
  /** URL of the SSE pipe's event source bundle, loaded when SSE first asks. */
  sseUrl?: string;
  /** The server's `UPLOAD_MAX_BYTES`; larger files are refused before upload. */
  uploadMaxBytes?: number;
  /** True when the server requires authentication: connect only once signed in. */
  auth?: boolean;
}

/** Default upload limit, the server's default `UPLOAD_MAX_BYTES`. */
export const UPLOAD_MAX_BYTES = 256 * 1024;

/** Cookie mirroring the session id the client keeps in `localStorage`. */
export const SESSION_COOKIE = "session_id";
/** Cookie naming this browser: the owner of its list of chats when authentication is off. */
export const OWNER_COOKIE = "chat_owner";
/** Cookie mirroring the transport choice the client keeps in `localStorage`. */
export const TRANSPORT_COOKIE = "transport";

/** Narrows a string to a transport kind. */
export function parseTransport(value: unknown): TransportKind | undefined {
  return value === "ws" || value === "sse" ? value : undefined;
}

/** Narrows a string to a valid session id. */
export function parseSessionId(value: unknown): string | undefined {
  return typeof value === "string" && ID_PATTERN.test(value) ? value : undefined;
}
