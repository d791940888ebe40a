/**
 * DNS rebinding protection: a request whose `Host` names none of the names
 * the server answers to gets 403 before anything else. A page on
 * `http://rebind.attacker.example:8000` whose name was re-pointed at
 * 127.0.0.1 is same-origin with itself, so the origin check alone lets it
 * in; its `Host` header still says `rebind.attacker.example`.
 *
 * The names are `ALLOWED_HOSTS`; unset, a server bound to a loopback
 * address answers only to the loopback names (`localhost`, `127.0.0.1`,
 * `[::1]`, any port) and one bound elsewhere checks nothing (put it behind
 * a proxy that does, or set `ALLOWED_HOSTS`).
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ErrorCode } from "../../protocol/codes.ts";
import { errorResponse } from "../http_error.ts";

/** The names a loopback-bound server answers to by default. */
export const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"] as const;

/** True for a loopback bind address (`127.0.0.0/8`, `::1`, `localhost`). */
export function isLoopback(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/**
 * The host names to accept: `allowed` when set; the loopback names when
 * bound to loopback; else `undefined` (no check).
 */
export function allowedHosts(
  allowed: readonly string[],
  bindHost: string | undefined,
): readonly string[] | undefined {
  if (allowed.length > 0) return allowed;
  return bindHost !== undefined && isLoopback(bindHost) ? LOOPBACK_HOSTS : undefined;
}

/** The host name of a `Host` header (port dropped, lower case), or `undefined` when malformed. */
export function hostName(header: string | undefined): string | undefined {
  const match = header?.trim().toLowerCase().match(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/);
  return match?.[1].replace(/\.$/, "");
}

/** 403 for a `Host` outside `hosts`; passes everything when `hosts` is `undefined`. */
export function hostGuard(hosts: readonly string[] | undefined): MiddlewareHandler {
  if (!hosts) return async (_c, next) => await next();
  const names = new Set(hosts.map((host) => host.toLowerCase()));
  return async (c, next) => {
    const header = c.req.header("host");
    const name = hostName(header);
    if (name !== undefined && names.has(name)) return await next();
    return errorResponse(
      c,
      403,
      ErrorCode.Forbidden,
      `Cannot accept host ${JSON.stringify((header ?? "").slice(0, 200))}: not allowed`,
    );
  };
}
