/**
 * Runtime-agnostic assembly: configuration + a store + the runtime's
 * `upgradeWebSocket` become the app. `main.ts` (Deno) and the Bun entry
 * differ only in the store they open and how they serve.
 * @module
 */
import type { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import { type Agent, createAgent } from "./agents/mod.ts";
import { createApp } from "./app.ts";
import type { Config } from "./config.ts";
import { loadDocs } from "./docs.ts";
import { createLogger, type Logger } from "./log.ts";
import type { SessionStore } from "./store/types.ts";
import type { StreamLog } from "./streams/log.ts";
import type { UploadStore } from "./uploads.ts";

/** What a runtime entry provides. */
export interface RuntimeParts {
  store: SessionStore;
  upgradeWebSocket: UpgradeWebSocket;
  /** Replaces the configured agent (tests use it). */
  agent?: Agent;
  /** Shared stream log (Deno KV); default: process memory. */
  streamLog?: StreamLog;
  /** Shared upload store (Deno KV); default: process memory. */
  uploads?: UploadStore;
}

/** The assembled service. */
export interface Service {
  app: Hono;
  log: Logger;
  agent: Agent;
}

/** Builds the app for `config` from the runtime's parts. */
export async function assemble(config: Config, parts: RuntimeParts): Promise<Service> {
  const log = createLogger(config.LOG_LEVEL);
  const agent = parts.agent ?? createAgent(config, await loadDocs());
  const app = createApp({
    config,
    agent,
    store: parts.store,
    upgradeWebSocket: parts.upgradeWebSocket,
    log,
    streamLog: parts.streamLog,
    uploads: parts.uploads,
  });
  return { app, log, agent };
}
