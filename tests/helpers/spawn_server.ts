/**
 * Starts the real server as a separate process under a given runtime
 * (`deno run -A main.ts` or `bun bun.ts`) on port 0, and reads its URL from
 * the Listening line both entries print ({@link LISTENING_LINE}); the
 * process is the fleet's {@link Child} (`ops/process.ts`).
 * @module
 */
import { BUN, ROOT } from "../../ops/instance.ts";
import { Child } from "../../ops/process.ts";
import { LISTENING_LINE } from "../../protocol/codes.ts";
import type { Runtime } from "./runtimes.ts";

/** A server process under test. */
export interface SpawnedServer {
  runtime: Runtime;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>/ws/chat` */
  wsUrl: string;
  /** Milliseconds from spawn to the Listening line (reported, never asserted). */
  startupMs: number;
  /** Sends SIGTERM and waits for the process to exit; returns everything it printed. */
  close(): Promise<string>;
  /** Settles when the process exited. */
  exited: Promise<Deno.CommandStatus>;
}

/** Options of {@link spawnServer}. */
export interface SpawnOptions {
  /** Extra flags for `deno run` (ignored on Bun), e.g. `--deny-write`. */
  denoFlags?: string[];
  /** Starts the server under `ulimit -n <fdLimit>` (through bash). */
  fdLimit?: number;
  /** Runs this script (a path from the repository root) instead of the runtime's entry. */
  script?: string;
}

/** Guards against a server that never prints its Listening line (not a timing assertion). */
const START_LIMIT_MS = 60_000;
/** Guards against a server that ignores SIGTERM: then it is killed (and its exit fails). */
const STOP_LIMIT_MS = 60_000;

function command(runtime: Runtime, options: SpawnOptions): [string, string[]] {
  const [cmd, args]: [string, string[]] = runtime === "deno"
    ? [Deno.execPath(), ["run", "-A", ...options.denoFlags ?? [], options.script ?? "main.ts"]]
    : [BUN, [options.script ?? "bun.ts"]];
  if (options.fdLimit === undefined) return [cmd, args];
  return ["bash", ["-c", `ulimit -n ${options.fdLimit} && exec "$@"`, "bash", cmd, ...args]];
}

/**
 * Spawns a server under `runtime`; `env` overrides the defaults
 * (`PORT=0`, `HOST=127.0.0.1`, `KV_PATH=:memory:`, `LOG_LEVEL=error`, `DEMO_DELAY_MS=1`).
 */
export async function spawnServer(
  runtime: Runtime,
  env: Record<string, string> = {},
  options: SpawnOptions = {},
): Promise<SpawnedServer> {
  const [cmd, args] = command(runtime, options);
  const started = performance.now();
  const { child, match } = await Child.start(cmd, {
    args,
    cwd: ROOT,
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      KV_PATH: ":memory:",
      LOG_LEVEL: "error",
      DEMO_DELAY_MS: "1",
      ...env,
    },
    // Tests read all of it (no uncaught error anywhere in it).
    keepChars: Infinity,
    ready: LISTENING_LINE,
    timeoutMs: START_LIMIT_MS,
  });
  const startupMs = performance.now() - started;
  const url = match[1];
  return {
    runtime,
    url,
    wsUrl: `${url.replace(/^http/, "ws")}/ws/chat`,
    startupMs,
    exited: child.exited,
    async close() {
      await child.stop(STOP_LIMIT_MS);
      return child.output;
    },
  };
}
