/**
 * In-process transport tests without a network: a fake socket (Hono's own
 * `WSContext` over recording callbacks, as Hono tests its adapters) and the
 * stream hub over memory stores, so a `WsConnection` or an SSE handler can
 * be driven frame by frame.
 * @module
 */
import { WSContext } from "hono/ws";
import type { Agent } from "../../server/agents/types.ts";
import { type Config, loadConfig } from "../../server/config.ts";
import { ChatCore } from "../../server/core.ts";
import { Budgets } from "../../server/guards/budgets.ts";
import { createLogger } from "../../server/log.ts";
import { openMemoryBackend } from "../../server/store/memory.ts";
import type { Backend } from "../../server/store/types.ts";
import { StreamHub } from "../../server/streams/hub.ts";
import type { WsDeps } from "../../server/transports/ws/mod.ts";

/** A socket whose sends and closes are recorded. */
export class FakeSocket {
  /** Text frames sent, parsed. */
  readonly frames: Record<string, unknown>[] = [];
  /** Close calls made by the server. */
  readonly closes: { code?: number; reason?: string }[] = [];
  /** What `bufferedAmount` reports (set it to simulate a slow reader). */
  bufferedAmount = 0;
  /** The `WSContext` the connection is given. */
  readonly context: WSContext;
  #waiters: (() => void)[] = [];

  /** Creates an open fake socket. */
  constructor() {
    this.context = new WSContext({
      send: (data) => {
        this.frames.push(JSON.parse(String(data)));
        this.#wake();
      },
      close: (code, reason) => {
        this.closes.push({ code, reason });
        this.#wake();
      },
      raw: this,
      readyState: 1,
    });
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Waits until a sent frame matches `match` (or a close, when `match` is "close"). */
  async until(
    match: ((frame: Record<string, unknown>) => boolean) | "close",
  ): Promise<Record<string, unknown> | undefined> {
    while (true) {
      if (match === "close") {
        if (this.closes.length > 0) return undefined;
      } else {
        const found = this.frames.find(match);
        if (found) return found;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/** What an in-process transport test works with. */
export interface Harness {
  config: Config;
  backend: Backend;
  hub: StreamHub;
  budgets: Budgets;
  deps: WsDeps;
}

/** Builds a hub over `agent` and memory stores; `env` overrides the configuration. */
export function harness(agent: Agent, env: Record<string, string> = {}): Harness {
  const config = loadConfig({ LOG_LEVEL: "silent", ...env });
  const backend = openMemoryBackend({ window: 10, ttlMs: 60_000 });
  const logger = createLogger("silent");
  const core = new ChatCore({ agent, store: backend.history, log: logger });
  const hub = new StreamHub(core, backend.streamLog, logger, {
    graceMs: config.RESUME_GRACE_MS,
    flushMs: 5,
    cancelPollMs: 10,
    logPollMs: 5,
    tailWaitMs: 50,
    leaseMs: 2_000,
    unknownWaitMs: 50,
  });
  const budgets = new Budgets(backend.quotas, config, logger);
  return {
    config,
    backend,
    hub,
    budgets,
    deps: { hub, uploads: backend.uploads, sessions: backend.history, budgets, config, logger },
  };
}
