/**
 * The one shape of every HTTP error response of the service:
 * `{ "error": { "code", "message", ...extra } }`.
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ErrorCode } from "../protocol/codes.ts";

/** The JSON body of an HTTP error. */
export interface ErrorBody {
  error: { code: string; message: string; [extra: string]: unknown };
}

/** Builds the error body; `extra` fields (e.g. `retry_after`) sit beside code and message. */
export function errorBody(
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
): ErrorBody {
  return { error: { code, message, ...extra } };
}

/** An error response with status `status` and the error body. */
export function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  extra?: Record<string, unknown>,
): Response {
  return c.json(errorBody(code, message, extra), status);
}

/** A 429 `rate_limited` response: `Retry-After` header and `retry_after` (seconds) in the body. */
export function rateLimitedResponse(c: Context, message: string, retryAfter: number): Response {
  c.header("retry-after", String(retryAfter));
  return errorResponse(c, 429, ErrorCode.RateLimited, message, { retry_after: retryAfter });
}
