/**
 * Cross-site WebSocket hijacking and cross-origin SSE protection: a request
 * carrying an `Origin` that is neither the server's own origin nor in
 * `ALLOWED_ORIGINS` (exact match) gets 403 before any upgrade or agent work.
 * Same-origin means the `Origin`'s host equals the `Host` header (the
 * scheme is ignored so a TLS-terminating proxy does not break it).
 * Requests without `Origin` pass unless a browser marks them cross-site:
 * browsers send no `Origin` on no-cors GETs (`<img>`, `<iframe>`,
 * `fetch(..., { mode: "no-cors" })`), but they do send
 * `Sec-Fetch-Site`, and `cross-site` or `same-site` without an allowed
 * `Origin` gets 403 too (cross-site request forgery). Non-browser
 * clients send neither header and pass.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ErrorCode } from "../../protocol/codes.ts";
import { errorResponse } from "../http_error.ts";

/** Values of `Sec-Fetch-Site` that mark a request a page of another origin made. */
const CROSS_SITE = new Set(["cross-site", "same-site"]);

/**
 * 403 for an `Origin` outside `allowed` and not same-origin, and for a
 * browser's cross-site request without `Origin`.
 */
export function originGuard(allowed: readonly string[]): MiddlewareHandler {
  const list = new Set(allowed);
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin === undefined) {
      const site = c.req.header("sec-fetch-site")?.toLowerCase();
      if (site === undefined || !CROSS_SITE.has(site)) return await next();
      return errorResponse(
        c,
        403,
        ErrorCode.Forbidden,
        `Cannot accept a ${site} request without an allowed Origin: not allowed`,
      );
    }
    if (list.has(origin) || isSameOrigin(origin, c.req.header("host"))) {
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
