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
  /** A binary frame arrived; uploads are not supported. */
  BinaryUnsupported: "binary_unsupported",
  /** A query arrived while another answer streams on the same socket. */
  Busy: "busy",
  /** A `cancel` named a request that is not running on this socket. */
  NotFound: "not_found",
  /** The request asks for a protocol feature this server does not offer. */
  Unsupported: "unsupported",
  /** The agent failed; the detail is only in the server log. */
  AgentError: "agent_error",
  /** Too many messages or connections. */
  RateLimited: "rate_limited",
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** Why an answer ended, carried by the `done` frame. */
export type FinishReason = "stop" | "cancelled" | "error";
