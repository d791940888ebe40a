/**
 * Refuses request targets (path + query) longer than `MAX_URL_BYTES` with
 * 414 before anything parses them.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ErrorCode } from "../../protocol/codes.ts";
import { errorResponse } from "../http_error.ts";

/** 414 when the request URL is longer than `maxBytes`. */
export function urlLimit(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    // URLs are ASCII (percent-encoded), so length is the byte count.
    if (c.req.url.length <= maxBytes) return await next();
    return errorResponse(
      c,
      414,
      ErrorCode.TooLarge,
      `Request URL too long: limit is ${maxBytes} bytes; send long questions over the WebSocket`,
    );
  };
}
