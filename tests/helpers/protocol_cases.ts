/**
 * Bad-input case tables shared by the in-process suites (`ws_test.ts`,
 * `sse_test.ts`) and the runtime-parameterised `protocol_runtime_test.ts`.
 * @module
 */
import { ErrorCode, MAX_QUERY_LENGTH } from "../../protocol/codes.ts";

/**
 * WebSocket frames the server must refuse: name, frame, expected error code,
 * words the error message must contain.
 */
export const BAD_FRAMES: [string, string | Uint8Array, string, string][] = [
  ["non-JSON text", "hello there", ErrorCode.InvalidJson, "not valid JSON"],
  ["a JSON array", "[1,2]", ErrorCode.InvalidFrame, "expected a JSON object"],
  ["an unknown type", '{"type":"launch"}', ErrorCode.UnknownType, '"launch"'],
  [
    "a missing query",
    '{"session_id":"abc"}',
    ErrorCode.EmptyQuery,
    'field "query"',
  ],
  [
    "an empty query",
    '{"query":"   "}',
    ErrorCode.EmptyQuery,
    "non-empty string",
  ],
  ["a non-string query", '{"query":42}', ErrorCode.EmptyQuery, 'field "query"'],
  [
    "an over-long query",
    JSON.stringify({ query: "x".repeat(MAX_QUERY_LENGTH + 1) }),
    ErrorCode.QueryTooLong,
    `at most ${MAX_QUERY_LENGTH}`,
  ],
  [
    "an invalid session_id",
    '{"query":"hi","session_id":"../../etc"}',
    ErrorCode.InvalidSessionId,
    'field "session_id"',
  ],
  [
    "a ping id that is an object",
    '{"type":"ping","id":{"a":1}}',
    ErrorCode.InvalidPingId,
    'field "id"',
  ],
  [
    "a ping id over 64 characters",
    JSON.stringify({ type: "ping", id: "x".repeat(65) }),
    ErrorCode.InvalidPingId,
    'field "id"',
  ],
  [
    "a cancel with a bad request_id",
    '{"type":"cancel","request_id":7}',
    ErrorCode.InvalidFrame,
    "request_id",
  ],
  [
    "a binary frame",
    new Uint8Array([1, 2, 3]),
    ErrorCode.BinaryUnsupported,
    "binary",
  ],
];

/** SSE query strings the server must refuse with 400: name, search, expected error code. */
export const SSE_BAD_QUERIES: [string, string, string][] = [
  ["missing query", "", ErrorCode.EmptyQuery],
  ["empty query", "?query=", ErrorCode.EmptyQuery],
  ["blank query", "?query=%20%20", ErrorCode.EmptyQuery],
  ["bad session id", "?query=hi&session_id=a%2Fb", ErrorCode.InvalidSessionId],
];
