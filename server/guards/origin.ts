/**
 * Cross-site WebSocket hijacking and cross-origin SSE protection: a request
 * carrying an `Origin` that is neither the server's own origin nor in
 * `ALLOWED_ORIGINS` (exact match) gets 403 before any upgrade or agent work.
 * Same-origin means the `Origin`'s host equals the `Host` header (the
 * scheme is ignored so a TLS-terminating proxy does not break it).
 * Requests without `Origin` (non-browser clients) pass; browsers always
 * send it on WebSocket upgrades and cross-origin requests.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ErrorCode } from "../../protocol/codes.ts";
import { errorResponse } from "../http_error.ts";

/** 403 for an `Origin` outside `allowed` and not same-origin. */
export function originGuard(allowed: readonly string[]): MiddlewareHandler {
  const list = new Set(allowed);
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin === undefined || list.has(origin) || isSameOrigin(origin, c.req.header("host"))) {
      return await next();
    }
    return errorResponse(
      c,
      403,
      ErrorCode.Forbidden,
      `Cannot accept origin ${
        JSON.stringify(origin.slice(0, 200))
      }: not allowed; the server operator can add it to ALLOWED_ORIGINS`,
    );
  };
}

function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (!host || !/^https?:\/\//.test(origin)) return false;
  try {
    const url = new URL(origin);
    return url.origin === origin && url.host === host.toLowerCase();
  } catch {
    return false;
  }
}
