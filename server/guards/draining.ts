/**
 * Refuses new streaming requests with 503 once graceful shutdown started.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ErrorCode } from "../../protocol/codes.ts";
import type { ConnectionRegistry } from "../connections.ts";
import { errorResponse } from "../http_error.ts";

/** 503 + `Retry-After` while `registry` drains. */
export function draining(registry: ConnectionRegistry, retryAfterS: number): MiddlewareHandler {
  return async (c, next) => {
    if (!registry.draining) return await next();
    c.header("retry-after", String(retryAfterS));
    return errorResponse(
      c,
      503,
      ErrorCode.ShuttingDown,
      "Cannot accept: the server is restarting",
      {
        retry_after: retryAfterS,
      },
    );
  };
}
