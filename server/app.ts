/**
 * The Hono app, built from its dependencies so Deno, Bun and tests share it.
 *
 * Both streaming endpoints sit behind the same guards, cheapest first:
 * shutdown (503), URL length (414), origin (403), authentication (401),
 * connections per client address (429 / close 4029).
 * @module
 */
import { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import { SSE_PATH, WS_PATH } from "../protocol/codes.ts";
import type { Agent } from "./agents/types.ts";
import { type Config, credentials } from "./config.ts";
import { registryOf } from "./connections.ts";
import type { Logger } from "./log.ts";
import { ChatCore, TurnStop } from "./core.ts";
import { Authenticator, authGuard, ticketHandler } from "./guards/auth.ts";
import { type ClientAddress, connectionLimit } from "./guards/connection_limit.ts";
import { draining } from "./guards/draining.ts";
import type { GuardEnv } from "./guards/env.ts";
import { originGuard } from "./guards/origin.ts";
import { urlLimit } from "./guards/url_limit.ts";
import { pageRoutes } from "./page.tsx";
import type { SessionStore } from "./store/types.ts";
import { StreamHub } from "./streams/hub.ts";
import { MemoryStreamLog, type StreamLog } from "./streams/log.ts";
import { MemoryUploadStore, type UploadStore } from "./uploads.ts";
import { ErrorCode } from "../protocol/codes.ts";
import { sseHandler } from "./transports/sse.ts";
import { wsHandler } from "./transports/ws.ts";

/** Everything the app needs from its runtime. */
export interface AppDeps {
  config: Config;
  agent: Agent;
  store: SessionStore;
  /** Hono's `upgradeWebSocket` for the runtime (`hono/deno` or `hono/bun`). */
  upgradeWebSocket: UpgradeWebSocket;
  /** Where errors and events are logged. */
  log: Logger;
  /** Reads the client address for the connection limit; default: the peer address. */
  clientAddress?: ClientAddress;
  /**
   * Where orphaned answers are logged for resume and cross-instance cancel;
   * default: process memory (single instance).
   */
  streamLog?: StreamLog;
  /** Where uploads are kept; default: process memory (single instance). */
  uploads?: UploadStore;
}

/** How often an orphaned answer is flushed to the log and polled for cancels. */
const STREAM_TIMING = { flushMs: 50, cancelPollMs: 250, tailPollMs: 50, unknownWaitMs: 1_000 };

/**
 * Builds the app: page, `/ws/chat`, `/agent_chat_stream`, `/auth/ticket`,
 * health. Its connection registry (for graceful shutdown) is
 * `registryOf(app)`.
 *
 * @throws {Error} when authentication is configured but the store cannot record session owners.
 */
export function createApp(deps: AppDeps): Hono {
  const { config } = deps;
  const creds = credentials(config);
  if (creds.length > 0 && !deps.store.claim) {
    throw new Error(
      "Cannot enable AUTH_TOKENS: the session store does not implement claim() for session ownership",
    );
  }
  const auth = creds.length > 0 ? new Authenticator(creds, config.AUTH_TICKET_TTL_S) : undefined;
  const core = new ChatCore({ ...deps, agentTimeoutMs: config.AGENT_TIMEOUT_MS });
  const app = new Hono<GuardEnv>();
  const registry = registryOf(app);
  const ttlMs = config.STREAM_TTL_MS;
  const hub = new StreamHub(core, deps.streamLog ?? new MemoryStreamLog({ ttlMs }), deps.log, {
    graceMs: config.RESUME_GRACE_MS,
    ...STREAM_TIMING,
  });
  const uploads = deps.uploads ?? new MemoryUploadStore({ ttlMs });
  // Answers left running for a resume belong to no connection: stop them too.
  registry.add({
    drain: () =>
      hub.stopAll(
        new TurnStop(ErrorCode.ShuttingDown, "The server is restarting; reconnect shortly"),
      ),
    terminate: () => void hub.stopAll(),
  });
  const guards = [
    draining(registry, Math.ceil(config.SSE_RETRY_MS / 1000)),
    urlLimit(config.MAX_URL_BYTES),
    originGuard(config.ALLOWED_ORIGINS),
    authGuard(auth),
    connectionLimit(config.MAX_CONNECTIONS_PER_IP, deps.clientAddress),
  ] as const;
  app.get("/healthz", (c) => c.json({ ok: true, agent: deps.agent.name }));
  if (auth) app.post("/auth/ticket", originGuard(config.ALLOWED_ORIGINS), ticketHandler(auth));
  app.get(
    WS_PATH,
    ...guards,
    wsHandler({ ...deps, hub, uploads, registry }),
    (c) => c.json({ error: "Expected a WebSocket upgrade request" }, 426),
  );
  app.get(SSE_PATH, ...guards, sseHandler({ hub, config, registry, log: deps.log }));
  // With authentication on, a cookie does not prove who owns a session: no history on the page.
  app.route(
    "/",
    pageRoutes({ store: auth ? undefined : deps.store, uploadMaxBytes: config.UPLOAD_MAX_BYTES }),
  );
  return app as unknown as Hono;
}
