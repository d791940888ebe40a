/**
 * Optional authentication for the streaming endpoints. Off unless
 * `AUTH_TOKEN`/`AUTH_TOKENS` is set; then a request needs either
 *
 * - `Authorization: Bearer <token>` (servers, CLIs, the bench, fetch-based
 *   SSE), or
 * - `?ticket=<ticket>`: a short-lived signed ticket from
 *   `POST /auth/ticket` (itself called with the bearer token). Browsers use
 *   it for `new WebSocket()` and `EventSource`, which cannot set headers, so
 *   the long-lived token never appears in a URL or an access log.
 *
 * Tickets are HMAC-SHA-256 signed with a key derived from the configured
 * tokens, so every instance with the same configuration accepts them; they
 * expire after `AUTH_TICKET_TTL_S`, are bound to the identity and the
 * `Origin` they were issued for (a request carrying another `Origin` is
 * refused) and are single use: the first request consumes the ticket's id
 * atomically in the shared backend (`QuotaStore.once`), so a replay, on
 * any instance, gets 401. The one exception is an SSE reconnect carrying
 * `Last-Event-ID` (EventSource reuses its URL): it may resume, never start,
 * an answer, and resumes are checked against the answer's identity.
 * Unauthenticated requests get 401 before any upgrade or agent work.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ErrorCode } from "../../protocol/codes.ts";
import type { Credential } from "../config.ts";
import type { QuotaStore } from "../store/types.ts";
import { errorResponse } from "../http_error.ts";
import type { GuardEnv } from "./env.ts";

const text = new TextEncoder();

/** Options of {@link Authenticator}. */
export interface AuthenticatorOptions {
  /** Where redeemed tickets are marked used (single use across a fleet); none: not tracked. */
  quotas?: QuotaStore;
}

/** Options of {@link Authenticator.issue} and {@link Authenticator.redeem}. */
export interface TicketOptions {
  /** The request's `Origin` header, if any. */
  origin?: string;
  /** Redeem only: a ticket already used is accepted again (an SSE resume). */
  allowReuse?: boolean;
}

/** Verifies tokens and tickets. */
export class Authenticator {
  #byHash = new Map<string, string>();
  #key: Promise<CryptoKey>;
  #ttlS: number;
  #ready: Promise<void>;
  #quotas: QuotaStore | undefined;

  /** Creates an authenticator over `credentials`; tickets live `ticketTtlS` seconds. */
  constructor(
    credentials: readonly Credential[],
    ticketTtlS: number,
    options: AuthenticatorOptions = {},
  ) {
    this.#ttlS = ticketTtlS;
    this.#quotas = options.quotas;
    this.#ready = Promise.all(
      credentials.map(async ({ name, token }) => this.#byHash.set(await sha256(token), name)),
    ).then(() => {});
    this.#key = sha256(
      "chat-stream ticket key\n" + credentials.map((c) => c.token).sort().join("\n"),
    ).then((hex) =>
      crypto.subtle.importKey("raw", text.encode(hex), { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
        "verify",
      ])
    );
  }

  /** The identity of a bearer token, or `undefined`. Compares hashes, not secrets. */
  async identify(token: string): Promise<string | undefined> {
    await this.#ready;
    return this.#byHash.get(await sha256(token));
  }

  /** Issues a ticket for `identity` (from `options.origin`), valid for the configured lifetime. */
  async issue(
    identity: string,
    now = Date.now(),
    options: TicketOptions = {},
  ): Promise<{ ticket: string; expiresIn: number }> {
    const claims = {
      sub: identity,
      exp: now + this.#ttlS * 1000,
      jti: crypto.randomUUID(),
      org: options.origin ?? null,
    };
    const payload = b64url(text.encode(JSON.stringify(claims)));
    const signature = await crypto.subtle.sign("HMAC", await this.#key, text.encode(payload));
    return { ticket: `${payload}.${b64url(new Uint8Array(signature))}`, expiresIn: this.#ttlS };
  }

  /**
   * The identity of a valid, unexpired ticket presented from the origin it
   * was issued for (a request without `Origin` is not a cross-site browser
   * request), used for the first time; else `undefined`.
   */
  async redeem(
    ticket: string,
    now = Date.now(),
    options: TicketOptions = {},
  ): Promise<string | undefined> {
    const [payload, signature, extra] = ticket.split(".");
    if (!payload || !signature || extra !== undefined || ticket.length > 1024) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = fromB64url(signature);
    } catch {
      return undefined;
    }
    const ok = await crypto.subtle.verify(
      "HMAC",
      await this.#key,
      bytes as Uint8Array<ArrayBuffer>,
      text.encode(payload),
    );
    if (!ok) return undefined;
    try {
      const claims = JSON.parse(new TextDecoder().decode(fromB64url(payload)));
      if (typeof claims.sub !== "string" || typeof claims.exp !== "number") return undefined;
      if (claims.exp <= now) return undefined;
      if (options.origin !== undefined && options.origin !== claims.org) return undefined;
      if (!await this.#firstUse(claims.jti, claims.exp - now, options)) return undefined;
      return claims.sub;
    } catch {
      return undefined;
    }
  }

  /** Marks ticket `id` used in the shared backend; false when it already was (and reuse is not allowed). */
  async #firstUse(id: unknown, ttlMs: number, options: TicketOptions): Promise<boolean> {
    if (!this.#quotas || options.allowReuse) return true;
    if (typeof id !== "string") return false;
    return await this.#quotas.once(`ticket:${id}`, Math.max(1, ttlMs));
  }
}

/** The token of an `Authorization: Bearer <token>` header, or `undefined`. */
export function bearer(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

function unauthorized(c: Parameters<MiddlewareHandler>[0], message: string) {
  c.header("www-authenticate", 'Bearer realm="chat"');
  return errorResponse(c, 401, ErrorCode.Unauthorized, message);
}

/**
 * Requires a bearer token or a ticket and sets the `identity` variable.
 * Passes everything through when `auth` is `undefined` (authentication off).
 */
export function authGuard(auth: Authenticator | undefined): MiddlewareHandler<GuardEnv> {
  return async (c, next) => {
    if (!auth) return await next();
    const token = bearer(c.req.header("authorization"));
    const ticket = c.req.query("ticket");
    const identity = token !== undefined
      ? await auth.identify(token)
      : ticket !== undefined
      ? await auth.redeem(ticket, Date.now(), {
        origin: c.req.header("origin"),
        // EventSource reconnects with its URL (and ticket) and Last-Event-ID: a resume only.
        allowReuse: c.req.header("last-event-id") !== undefined,
      })
      : undefined;
    if (identity === undefined) {
      return unauthorized(
        c,
        token === undefined && ticket === undefined
          ? "Authentication required: send a bearer token or a ticket from POST /auth/ticket"
          : "Authentication failed: the token or ticket is invalid, expired, already used or from another origin",
      );
    }
    c.set("identity", identity);
    await next();
  };
}

/** `POST /auth/ticket`: trades a bearer token for a short-lived ticket. */
export function ticketHandler(auth: Authenticator): MiddlewareHandler {
  return async (c) => {
    const token = bearer(c.req.header("authorization"));
    const identity = token === undefined ? undefined : await auth.identify(token);
    if (identity === undefined) {
      return unauthorized(c, "Authentication required: send a valid bearer token");
    }
    const { ticket, expiresIn } = await auth.issue(identity, Date.now(), {
      origin: c.req.header("origin"),
    });
    c.header("cache-control", "no-store");
    return c.json({ ticket, expires_in: expiresIn });
  };
}

/** The hex SHA-256 of `value` (secrets are compared by hash, so timing says nothing). */
export async function sha256(value: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", text.encode(value)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function fromB64url(value: string): Uint8Array {
  const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
}
