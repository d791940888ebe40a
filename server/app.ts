/**
 * The Hono app, built from its dependencies so Deno, Bun and tests share it.
 * @module
 */
import { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import { SSE_PATH, WS_PATH } from "../protocol/codes.ts";
import type { Agent } from "./agents/types.ts";
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { ChatCore } from "./core.ts";
import { pageRoutes } from "./page.tsx";
import type { SessionStore } from "./store/types.ts";
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
}

/** Builds the app: page, `/ws/chat`, `/agent_chat_stream`, health. */
export function createApp(deps: AppDeps): Hono {
  const core = new ChatCore(deps);
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ ok: true, agent: deps.agent.name }));
  app.get(WS_PATH, wsHandler(core, deps));
  app.get(
    WS_PATH,
    (c) => c.json({ error: "Expected a WebSocket upgrade request" }, 426),
  );
  app.get(SSE_PATH, sseHandler(core, deps.config));
  app.route("/", pageRoutes({ store: deps.store }));
  return app;
}
