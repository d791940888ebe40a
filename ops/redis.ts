/**
 * Runs a real `redis-server` (Debian's) on a loopback port with no
 * persistence, for the fleet and the tests; it can be stopped and started
 * again on the same port (an outage).
 * @module
 */
import { Child, freePort, isFile } from "./process.ts";

/** Path of the server binary. */
export const REDIS_SERVER = "/usr/bin/redis-server";

/** How long redis-server may take to say it is ready. */
const START_LIMIT_MS = 10_000;
const READY = /Ready to accept connections/;

/** True when redis-server is installed. */
export function hasRedis(): boolean {
  return isFile(REDIS_SERVER);
}

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Print redis-server's output with this prefix (default: keep it quiet). */
  echo?: string;
}

/** A redis-server the caller owns. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** Its port on 127.0.0.1. */
  port: number;
  /** True while the process runs. */
  readonly running: boolean;
  /** Sends a signal (`SIGSTOP` freezes it, `SIGCONT` thaws it); false when it is not running. */
  signal(signal: Deno.Signal): boolean;
  /** Stops it (SIGTERM, then SIGKILL) and waits for the exit; its data is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after {@link stop}), empty. */
  start(): Promise<void>;
}

/** Starts redis-server and waits until it accepts connections. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const port = options.port ?? freePort();
  let child: Child | undefined;
  const start = async () => {
    if (child) return;
    ({ child } = await Child.start(REDIS_SERVER, {
      // No RDB snapshots, no AOF: a test engine, empty at every start.
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      echo: options.echo,
      ready: READY,
      timeoutMs: START_LIMIT_MS,
    }));
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get running() {
      return child !== undefined;
    },
    signal: (signal) => child?.signal(signal) ?? false,
    async stop() {
      const stopping = child;
      child = undefined;
      // A frozen server (SIGSTOP) is thawed first so it can exit on SIGTERM.
      stopping?.signal("SIGCONT");
      await stopping?.stop(5_000);
    },
    start,
  };
}
