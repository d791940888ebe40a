/**
 * The HTTP side of telemetry: `GET /metrics` (Prometheus text, behind an
 * optional bearer token) and the middleware that counts requests the
 * guards refused, by reason.
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import { ErrorCode } from "../../protocol/codes.ts";
import { bearer, sha256 } from "../guards/auth.ts";
import { errorResponse } from "../http_error.ts";
import type { Telemetry, Transport } from "./mod.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";

/** The error code of each status the guards answer with. */
const REASONS: Record<number, string> = {
  400: ErrorCode.InvalidFrame,
  401: ErrorCode.Unauthorized,
  403: ErrorCode.Forbidden,
  414: ErrorCode.TooLarge,
  426: ErrorCode.UpgradeRequired,
  429: ErrorCode.RateLimited,
  503: ErrorCode.ShuttingDown,
};

/** Counts the refused requests of a streaming route (`chat_refusals_total`). */
export function countRefusals(telemetry: Telemetry, transport: Transport): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const status = c.res.status;
    if (status >= 400) telemetry.refused(transport, REASONS[status] ?? `http_${status}`);
  };
}

/**
 * `GET /metrics`: the Prometheus exposition of `telemetry`. With `token`,
 * only for `Authorization: Bearer <token>` (401 otherwise).
 */
export function metricsRoutes(telemetry: Telemetry, token?: string): Hono {
  const expected = token === undefined ? undefined : sha256(token);
  return new Hono().get("/metrics", async (c) => {
    if (expected !== undefined) {
      const given = bearer(c.req.header("authorization"));
      // Hashes compared, so the comparison's time says nothing about the token.
      if (given === undefined || await sha256(given) !== await expected) {
        c.header("www-authenticate", 'Bearer realm="metrics"');
        return errorResponse(
          c,
          401,
          ErrorCode.Unauthorized,
          "Authentication required: send METRICS_TOKEN as a bearer token",
        );
      }
    }
    return c.body(telemetry.registry.render(), 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  });
}
