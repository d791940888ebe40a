/**
 * Protocol constants shared by server, client, bench and tests.
 *
 * This file imports nothing so the browser bundle can use it without zod.
 * @module
 */

/** Path of the WebSocket endpoint. */
export const WS_PATH = "/ws/chat";
/** Path of the retained SSE endpoint. */
export const SSE_PATH = "/agent_chat_stream";
/** Path of the SSE endpoint's cancel (`POST`, JSON `{ "request_id" }`). */
export const SSE_CANCEL_PATH = "/agent_chat_stream/cancel";
/** Path where a bearer token is traded for a short-lived ticket (browsers pass it as `?ticket=`). */
export const AUTH_TICKET_PATH = "/auth/ticket";
/**
 * The caller's sessions: `GET` lists them (`{ sessions: [{ session_id, title, at }] }`),
 * `DELETE {SESSIONS_PATH}/{id}` deletes one and everything of it.
 */
export const SESSIONS_PATH = "/api/sessions";

/** Formats the line a server prints once it listens (`url` without a trailing slash). */
export function listeningLine(url: string, agent: string): string {
  return `Listening on ${url}/ (agent: ${agent})`;
}

/**
 * Matches the Listening line of a server's stdout (the agent part is
 * optional, so bench peers that print only the URL match too); group 1 is
 * the base URL, `http://host:port`, with no trailing slash.
 */
export const LISTENING_LINE = /^Listening on (https?:\/\/[^\s/]+)\/?(?: \(agent: [^)]+\))?$/m;

/** Longest accepted query, in characters. */
export const MAX_QUERY_LENGTH = 8_000;
/** Pattern every session id and client-chosen request id must match. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Machine-readable codes carried by `error` frames. */
export const ErrorCode = {
  /** The text frame is not JSON. */
  InvalidJson: "invalid_json",
  /** The frame is JSON but does not match any frame schema. */
  InvalidFrame: "invalid_frame",
  /** The frame has a `type` this server does not know. */
  UnknownType: "unknown_type",
  /** The query is missing or empty. */
  EmptyQuery: "empty_query",
  /** The query is longer than {@link MAX_QUERY_LENGTH}. */
  QueryTooLong: "query_too_long",
  /** The session id does not match {@link ID_PATTERN}. */
  InvalidSessionId: "invalid_session_id",
  /** A binary frame arrived with no `upload` announced before it. */
  BinaryUnsupported: "binary_unsupported",
  /** An upload is larger than `UPLOAD_MAX_BYTES`. */
  UploadTooLarge: "upload_too_large",
  /** An upload's media type is not text or a supported image. */
  UnsupportedMedia: "unsupported_media",
  /** An upload's bytes do not match its header (too many, or not UTF-8 text). */
  UploadInvalid: "upload_invalid",
  /** A query arrived while another answer streams on the same socket. */
  Busy: "busy",
  /** A `cancel` named a request that is not running on this socket. */
  NotFound: "not_found",
  /** The request asks for a protocol feature this server does not offer. */
  Unsupported: "unsupported",
  /** The agent failed; the detail is only in the server log. */
  AgentError: "agent_error",
  /** Too many messages or connections; `retry_after` says when to try again. */
  RateLimited: "rate_limited",
  /** Authentication is required or the credentials are wrong. */
  Unauthorized: "unauthorized",
  /** The session (or origin) belongs to someone else; nothing of it is shown. */
  Forbidden: "forbidden",
  /** The agent sent nothing for longer than the configured agent timeout. */
  Timeout: "timeout",
  /** The server is restarting; reconnect after `retry_after` seconds. */
  ShuttingDown: "shutting_down",
  /** The request line or frame is larger than the configured limit. */
  TooLarge: "too_large",
  /** The instance producing the answer stopped before it finished; ask again. */
  Interrupted: "interrupted",
  /** The shared store (Redis, KV) is unreachable; try again shortly. */
  Unavailable: "unavailable",
  /** The agent made more tool calls than a step or a turn allows; the turn ended. */
  TooManyToolCalls: "too_many_tool_calls",
  /** A `ping` frame's `id` is not a string of at most 64 characters. */
  InvalidPingId: "invalid_ping_id",
  /** The answer's stream log cannot be written; a resume cannot be served in full. */
  StreamLost: "stream_lost",
  /** The service's upload storage is at its budget: new uploads are refused, chat goes on. */
  StorageFull: "storage_full",
  /** A plain HTTP request reached the WebSocket endpoint (HTTP 426). */
  UpgradeRequired: "upgrade_required",
  /** The server failed to handle an HTTP request; the detail is only in the server log. */
  Internal: "internal_error",
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** Most attachments one query may name. */
export const MAX_ATTACHMENTS = 5;

/** Every reason an answer can end with, carried by the `done` frame. */
export const FINISH_REASONS = ["stop", "cancelled", "error"] as const;

/** Why an answer ended, carried by the `done` frame. */
export type FinishReason = typeof FINISH_REASONS[number];

/** Upload media types whose bytes are read as UTF-8 text for the agent. */
export const TEXT_UPLOAD_TYPE = /^(text\/[a-z0-9.+-]+|application\/(json|markdown|x-ndjson))$/;

/** Image media types accepted for upload (stored, not read by the agent). */
export const IMAGE_UPLOAD_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"] as const;

/** True when an upload of media type `mime` is read as text. */
export function isTextUploadType(mime: string): boolean {
  return TEXT_UPLOAD_TYPE.test(mime);
}

/** True when an upload of media type `mime` is accepted at all (text or a listed image). */
export function isAcceptedUploadType(mime: string): boolean {
  return isTextUploadType(mime) || (IMAGE_UPLOAD_TYPES as readonly string[]).includes(mime);
}

/**
 * WebSocket close codes this server sends (RFC 6455 section 7.4 plus
 * application codes in the 4000-4999 range).
 *
 * Following Centrifugo's split, the application codes tell the client what
 * to do: 4000-4399 mean "reconnect (after `retry_after` or a backoff)",
 * 4400-4499 mean "do not reconnect until something changes" (credentials,
 * the request). {@link shouldReconnect} encodes the whole table.
 */
export const CloseCode = {
  /** Normal closure. Reconnect when there is something to send. */
  Normal: 1000,
  /** The peer did not answer pings within the idle timeout (sent by Deno). Reconnect. */
  GoingAway: 1001,
  /** Malformed WebSocket framing. Do not reconnect: the client is broken. */
  ProtocolError: 1002,
  /** A text frame that is not UTF-8. Do not reconnect. */
  InvalidPayload: 1007,
  /** A frame over the size limit. Do not reconnect and resend the same frame. */
  MessageTooBig: 1009,
  /** Unexpected server failure. Reconnect with backoff. */
  InternalError: 1011,
  /** The server is restarting (graceful shutdown). Reconnect with backoff. */
  ServiceRestart: 1012,
  /** The socket stayed stalled (not reading) past the stall limit. Reconnect. */
  SlowConsumer: 4008,
  /** Too many messages on this socket or connections from this address. Reconnect after `retry_after`. */
  RateLimited: 4029,
  /** Bad credentials. Do not reconnect without new credentials. */
  Unauthorized: 4401,
  /** Not allowed (origin or identity). Do not reconnect. */
  Forbidden: 4403,
} as const;

/** One of the {@link CloseCode} values. */
export type CloseCode = typeof CloseCode[keyof typeof CloseCode];

/**
 * Whether a client should reconnect after the socket closed with `code`:
 * false for protocol, payload, policy and size errors (1002, 1003, 1007,
 * 1008, 1009, 1010) and for application codes 4400-4999; true otherwise
 * (including 1006, an abnormal drop).
 */
export function shouldReconnect(code: number): boolean {
  if (code >= 4400 && code <= 4999) return false;
  return code !== 1002 && code !== 1003 && code !== 1007 && code !== 1008 && code !== 1009 &&
    code !== 1010;
}
