/**
 * The Hono context variables the guards set for the transports.
 * @module
 */

/** A slot in the per-address connection count, held for the connection's life. */
export interface Lease {
  /** Marks the slot as taken by a long-lived connection; release it when it ends. */
  hold(): void;
  /** Frees the slot; safe to call more than once. */
  release(): void;
}

/** Why a WebSocket upgrade is accepted only to be told off and closed. */
export interface Rejection {
  /** Seconds after which the client may try again. */
  retryAfter: number;
  /** Human-readable reason for the error frame and the close. */
  message: string;
}

/** Variables set by the guards, read by the transports. */
export interface GuardVariables {
  /** The authenticated identity; unset when authentication is off. */
  identity?: string;
  /** The client's peer address (what the per-address limits count by). */
  client?: string;
  /** The connection's slot in the per-address count. */
  lease?: Lease;
  /** Whose budgets the request draws on: the identity, or the client address (see `budgets.ts`). */
  clientKey?: string;
  /** Set when a WebSocket must be rejected after the upgrade (connection limit). */
  rejection?: Rejection;
}

/** The Hono environment of the guarded routes. */
export interface GuardEnv {
  Variables: GuardVariables;
}
