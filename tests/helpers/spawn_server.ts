/**
 * Starts the real server as a separate process under a given runtime
 * (`deno run -A main.ts` or `bun bun.ts`) on port 0, and reads its URL from
 * the Listening line both entries print ({@link LISTENING_LINE}).
 * @module
 */
import { LISTENING_LINE } from "../../protocol/codes.ts";
import { BUN, type Runtime } from "./runtimes.ts";

/** A server process under test. */
export interface SpawnedServer {
  runtime: Runtime;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>/ws/chat` */
  wsUrl: string;
  /** Milliseconds from spawn to the Listening line (reported, never asserted). */
  startupMs: number;
  /** Sends SIGTERM and waits for the process to exit; returns its stderr. */
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
}

const ROOT = new URL("../../", import.meta.url).pathname;
/** Guards against a server that never prints its Listening line (not a timing assertion). */
const START_LIMIT_MS = 60_000;

function command(runtime: Runtime, options: SpawnOptions): [string, string[]] {
  const [cmd, args]: [string, string[]] = runtime === "deno"
    ? [Deno.execPath(), ["run", "-A", ...options.denoFlags ?? [], "main.ts"]]
    : [BUN, ["bun.ts"]];
  if (options.fdLimit === undefined) return [cmd, args];
  return ["bash", ["-c", `ulimit -n ${options.fdLimit} && exec "$@"`, "bash", cmd, ...args]];
}

async function drain(
  stream: ReadableStream<Uint8Array<ArrayBuffer>>,
  sink: (text: string) => void,
) {
  for await (const text of stream.pipeThrough(new TextDecoderStream())) sink(text);
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
  const child = new Deno.Command(cmd, {
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
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  const { promise: listening, resolve } = Promise.withResolvers<string>();
  const drained = Promise.all([
    drain(child.stdout, (text) => {
      stdout += text;
      const match = stdout.match(LISTENING_LINE);
      if (match) resolve(match[1]);
    }),
    drain(child.stderr, (text) => stderr += text),
  ]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const url = await Promise.race([
    listening,
    child.status.then((status) => {
      throw new Error(
        `Cannot start the ${runtime} server: exited with ${status.code}: ${stderr.trim()}`,
      );
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Cannot start the ${runtime} server: no Listening line`)),
        START_LIMIT_MS,
      );
    }),
  ]).catch(async (error) => {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await drained;
    throw error;
  });
  clearTimeout(timer);
  const startupMs = performance.now() - started;
  return {
    runtime,
    url,
    wsUrl: `${url.replace(/^http/, "ws")}/ws/chat`,
    startupMs,
    exited: child.status,
    async close() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      await child.status;
      await drained;
      return stderr;
    },
  };
}
