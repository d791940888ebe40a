/**
 * The Hono app, built from its dependencies so Deno, Bun and tests share it.
 *
 * Every route checks the `Host` header first (DNS rebinding, 403). Both
 * streaming endpoints then sit behind the same guards, cheapest first:
 * shutdown (503), URL length (414), origin and cross-site requests (403),
 * authentication (401), connections per client address (429 / close 4029).
 * The client key (identity, else address) draws on the per-key budgets
 * (`guards/budgets.ts`: messages, answers, uploads) in the shared backend.
 * Running answers count against their client's answer budget in the hub.
 * @module
 */
import process from "node:process";
import { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import {
  AUTH_TICKET_PATH,
  ErrorCode,
  SSE_CANCEL_PATH,
  SSE_PATH,
  WS_PATH,
} from "../protocol/codes.ts";
import type { Agent } from "./agents/types.ts";
import { type Config, credentials } from "./config.ts";
import { registryOf } from "./connections.ts";
import { listenOptionsFor } from "./deploy.ts";
import type { Logger } from "./log.ts";
import { ChatCore } from "./core.ts";
import { Authenticator, authGuard, ticketHandler } from "./guards/auth.ts";
import { Budgets, clientKeyGuard, SharedAnswerBudget } from "./guards/budgets.ts";
import { clientAddressFrom, oncePerRequest } from "./guards/client_address.ts";
import { type ClientAddress, connectionLimit } from "./guards/connection_limit.ts";
import { draining } from "./guards/draining.ts";
import type { GuardEnv } from "./guards/env.ts";
import { allowedHosts, hostGuard } from "./guards/host.ts";
import { originGuard } from "./guards/origin.ts";
import { urlLimit } from "./guards/url_limit.ts";
import { pageRoutes } from "./page.tsx";
import { chatRoutes } from "./chats.tsx";
import { deleteSessionHandler, listSessionsHandler, SESSIONS_PATH } from "./sessions.ts";
import { errorResponse } from "./http_error.ts";
import type { Backend } from "./store/types.ts";
import { shutdownStop } from "./streams/delivery.ts";
import { StreamHub } from "./streams/hub.ts";
import {
  AI_SDK_CHAT_PATH,
  aiSdkChatHandler,
  aiSdkResumeHandler,
} from "./transports/http/ai_sdk.ts";
import { sseCancelHandler } from "./transports/sse/cancel.ts";
import { sseHandler } from "./transports/sse/handler.ts";
import { wsHandler } from "./transports/ws/mod.ts";
import { countRefusals, metricsRoutes } from "./telemetry/http.ts";
import { Telemetry } from "./telemetry/mod.ts";
import { timedBackend } from "./telemetry/store.ts";

/** Everything the app needs from its runtime. */
export interface AppDeps {
  config: Config;
  agent: Agent;
  /** History, stream log and uploads. */
  backend: Backend;
  /** The runtime's `upgradeWebSocket` (Hono's contract: `deno_upgrade.ts`, `bun_upgrade.ts`). */
  upgradeWebSocket: UpgradeWebSocket;
  /** Where errors and events are logged. */
  logger: Logger;
  /** Reads the client address (connection limit, budgets); default: the peer, or behind `TRUSTED_PROXIES` the forwarded address. */
  clientAddress?: ClientAddress;
  /** Where traces and metrics go; default: the global OpenTelemetry providers. */
  telemetry?: Telemetry;
  /** The runtime serving the app (default `deno`); see `AnswerStreamDeps.firstChunkTurn`. */
  runtime?: "deno" | "bun";
}

/**
 * How often an orphaned answer is flushed to the log; how long waits for a
 * cancel or new events last before a re-read (wake-ups usually end them
 * sooner); how long and how often a resume looks for an answer not logged yet.
 */
const STREAM_TIMING = {
  flushMs: 50,
  cancelPollMs: 250,
  tailWaitMs: 500,
  logPollMs: 50,
  unknownWaitMs: 1_000,
};

/**
 * Builds the app: page, `/ws/chat`, `/agent_chat_stream`, `/auth/ticket`,
 * health. Its connection registry (for graceful shutdown) is
 * `registryOf(app)`.
 *
 * @throws {Error} when authentication is configured but the store cannot record session owners.
 */
export function createApp(deps: AppDeps): Hono {
  const { config, logger } = deps;
  const telemetry = deps.telemetry ?? new Telemetry();
  const backend = timedBackend(deps.backend, telemetry);
  const creds = credentials(config);
  if (creds.length > 0 && !backend.history.claim) {
    throw new Error(
      "Cannot enable AUTH_TOKENS: the session store does not implement claim() for session ownership",
    );
  }
  const auth = creds.length > 0
    ? new Authenticator(creds, config.AUTH_TICKET_TTL_S, { quotas: backend.quotas })
    : undefined;
  const core = new ChatCore({
    agent: deps.agent,
    store: backend.history,
    uploads: backend.uploads,
    log: logger,
    agentTimeoutMs: config.AGENT_TIMEOUT_MS,
    storeTimeoutMs: config.STORE_TIMEOUT_MS,
  });
  const app = new Hono<GuardEnv>();
  const registry = registryOf(app);
  const hub = new StreamHub(core, backend.streamLog, logger, {
    graceMs: config.RESUME_GRACE_MS,
    leaseMs: config.PRODUCER_LEASE_MS,
    // With both answer limits off there is nothing to count: answers start without a budget call.
    budget: config.MAX_ANSWERS_PER_CLIENT > 0 || config.KEY_ANSWERS_PER_MINUTE > 0
      ? new SharedAnswerBudget(backend.quotas, config, {
        limit: config.MAX_ANSWERS_PER_CLIENT,
        logger,
      })
      : undefined,
    ...STREAM_TIMING,
    telemetry,
  });
  // On restart every answer runs to its end (logged, resumable elsewhere);
  // those still running when the drain times out are stopped.
  registry.add({
    drain: () => hub.finishAll(),
    terminate: () => hub.stopAll(shutdownStop()),
  }, { background: true });
  const address = oncePerRequest(deps.clientAddress ?? clientAddressFrom(config.TRUSTED_PROXIES));
  const budgets = new Budgets(backend.quotas, config, logger);
  const streamDeps = { hub, config, registry, logger, firstChunkTurn: deps.runtime === "bun" };
  const guards = [
    draining(registry, Math.ceil(config.SSE_RETRY_MS / 1000)),
    urlLimit(config.MAX_URL_BYTES),
    originGuard(config.ALLOWED_ORIGINS),
    authGuard(auth),
    clientKeyGuard(address),
    connectionLimit(config.MAX_CONNECTIONS_PER_IP, address),
  ] as const;
  // Every HTTP error has the one shape, unknown paths and unexpected failures too.
  app.notFound((c) =>
    errorResponse(
      c,
      404,
      ErrorCode.NotFound,
      `Cannot find ${JSON.stringify(c.req.path.slice(0, 200))}`,
    )
  );
  app.onError((error, c) => {
    logger.error("Request failed", { path: c.req.path, error });
    return errorResponse(c, 500, ErrorCode.Internal, "The server failed to handle the request");
  });
  // On Deno Deploy without HOST the platform picks the address: no default names.
  const bound = listenOptionsFor(config, process.env).hostname;
  app.use(hostGuard(allowedHosts(config.ALLOWED_HOSTS, bound)));
  app.get("/healthz", (c) => c.json({ ok: true, agent: deps.agent.name }));
  app.get("/readyz", async (c) => {
    if (registry.draining) return c.json({ ready: false, reason: "draining" }, 503);
    if (!await backend.ready().catch(() => false)) {
      return c.json({ ready: false, reason: "store unreachable" }, 503);
    }
    return c.json({ ready: true, backend: backend.name });
  });
  if (auth) app.post(AUTH_TICKET_PATH, originGuard(config.ALLOWED_ORIGINS), ticketHandler(auth));
  // Prometheus text on the public port only behind METRICS_TOKEN (METRICS_PORT: see the entry).
  if (config.METRICS_TOKEN) app.route("/", metricsRoutes(telemetry, config.METRICS_TOKEN));
  app.get(
    WS_PATH,
    countRefusals(telemetry, "ws"),
    ...guards,
    wsHandler({
      hub,
      uploads: backend.uploads,
      sessions: backend.history,
      budgets,
      config,
      logger,
      registry,
      upgradeWebSocket: deps.upgradeWebSocket,
    }),
    (c) => errorResponse(c, 426, ErrorCode.UpgradeRequired, "Expected a WebSocket upgrade request"),
  );
  app.get(
    SSE_PATH,
    countRefusals(telemetry, "sse"),
    ...guards,
    sseHandler(streamDeps),
  );
  // Same guards as the stream, bar the connection count: a cancel holds no slot.
  const [drain, url, origin, authenticate] = guards;
  app.post(SSE_CANCEL_PATH, drain, url, origin, authenticate, sseCancelHandler(hub));
  // Deleting a session (and everything of it), as its owner: identity, else the chat_owner cookie.
  const sessionDeps = { hub, history: backend.history, uploads: backend.uploads };
  const sessionGuards = [drain, url, origin, authenticate] as const;
  app.get(SESSIONS_PATH, ...sessionGuards, listSessionsHandler(backend.history));
  app.delete(`${SESSIONS_PATH}/:id`, ...sessionGuards, deleteSessionHandler(sessionDeps));
  // The AI SDK's default HTTP transport, over the same delivery layer.
  const refusals = countRefusals(telemetry, "sse");
  app.post(AI_SDK_CHAT_PATH, refusals, ...guards, aiSdkChatHandler(streamDeps));
  app.get(`${AI_SDK_CHAT_PATH}/:id/stream`, refusals, ...guards, aiSdkResumeHandler(streamDeps));
  // With authentication on, a cookie does not prove who owns a session: no history on the
  // page, and no chat list (it is kept per identity, not shown).
  if (!auth) {
    app.route("/", chatRoutes(sessionDeps, { allowedOrigins: config.ALLOWED_ORIGINS }));
  }
  app.route(
    "/",
    pageRoutes({
      store: auth ? undefined : backend.history,
      uploadMaxBytes: config.UPLOAD_MAX_BYTES,
      auth: auth !== undefined,
    }),
  );
  return app as unknown as Hono;
}
