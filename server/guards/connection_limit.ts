/**
 * Caps concurrent streaming connections per client address
 * (`MAX_CONNECTIONS_PER_IP`, WebSocket and SSE together). Over the cap an
 * SSE request gets 429 with `Retry-After`; a WebSocket is upgraded only to
 * receive a `rate_limited` error frame and close 4029, because browsers
 * cannot read the status of a refused upgrade.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { rateLimitedResponse } from "../http_error.ts";
import type { GuardEnv, Lease } from "./env.ts";

/** Seconds a refused client is asked to wait. */
const RETRY_AFTER_S = 5;

/** Reads the client address of a request. */
export type ClientAddress = (c: Context) => string;

/**
 * The peer address on Deno (`c.env` is `Deno.ServeHandlerInfo`) and on Bun
 * (`c.env` is the `Server`, with `requestIP`). Proxy headers are not
 * trusted.
 */
export const defaultClientAddress: ClientAddress = (c) => {
  const env = c.env as {
    remoteAddr?: { hostname?: string };
    requestIP?: (request: Request) => { address: string } | null;
  } | undefined;
  return env?.remoteAddr?.hostname ?? env?.requestIP?.(c.req.raw)?.address ?? "unknown";
};

/** One address's slot in the count, freed once (a plain object: idle sockets hold one each). */
class AddressLease implements Lease {
  #counts: Map<string, number>;
  #key: string;
  #held = false;
  #released = false;

  constructor(counts: Map<string, number>, key: string) {
    this.#counts = counts;
    this.#key = key;
  }

  /** True once taken by a long-lived connection: the request's end does not free it. */
  get held(): boolean {
    return this.#held;
  }

  hold(): void {
    this.#held = true;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    const n = (this.#counts.get(this.#key) ?? 1) - 1;
    if (n <= 0) this.#counts.delete(this.#key);
    else this.#counts.set(this.#key, n);
  }
}

/** Counts connections per address; `max` 0 turns the limit off (counting goes on). */
export function connectionLimit(
  max: number,
  address: ClientAddress = defaultClientAddress,
): MiddlewareHandler<GuardEnv> & { readonly counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const guard: MiddlewareHandler<GuardEnv> = async (c, next) => {
    const key = address(c);
    c.set("client", key);
    const current = counts.get(key) ?? 0;
    const upgrade = c.req.header("upgrade")?.toLowerCase() === "websocket";
    if (max > 0 && current >= max) {
      const message = `Too many connections: at most ${max} concurrent streams per client address`;
      if (!upgrade) return rateLimitedResponse(c, message, RETRY_AFTER_S);
      c.set("rejection", { retryAfter: RETRY_AFTER_S, message });
      return await next();
    }
    counts.set(key, current + 1);
    const lease = new AddressLease(counts, key);
    c.set("lease", lease);
    try {
      await next();
    } finally {
      if (!lease.held) lease.release();
    }
  };
  return Object.assign(guard, { counts });
}
