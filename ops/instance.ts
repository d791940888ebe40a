/**
 * One server instance as a process: `deno run -A main.ts` or `bun bun.ts`
 * on a fixed loopback port, started again on the same port by `restart()`
 * so a load balancer's server line stays valid.
 * @module
 */
import { LISTENING_LINE } from "../protocol/codes.ts";
import { Child, freePort } from "./process.ts";

/** A runtime an instance runs under. */
export type Runtime = "deno" | "bun";

/** The project root (where `main.ts` and `bun.ts` are). */
export const ROOT: string = new URL("../", import.meta.url).pathname;

/** The Bun executable: `BUN_PATH` or `bun` from `PATH`. */
export const BUN: string = Deno.env.get("BUN_PATH") ?? "bun";

/** Bounds a start that never prints its Listening line (the first may build the client). */
const START_LIMIT_MS = 90_000;

/** Options of {@link startInstance}. */
export interface InstanceOptions {
  /** Port on 127.0.0.1 (default: a free one, kept across restarts). */
  port?: number;
  /** Environment of the server (`HOST` and `PORT` are set here). */
  env?: Record<string, string>;
  /** Name used in messages and as the echo prefix (default `<runtime>-<port>`). */
  name?: string;
  /** Print the instance's output prefixed with its name. */
  echo?: boolean;
}

/** A running (or restartable) server instance. */
export interface Instance {
  /** Its name, e.g. `deno-1`. */
  readonly name: string;
  readonly runtime: Runtime;
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `ws://127.0.0.1:<port>/ws/chat` */
  readonly wsUrl: string;
  /** Process id of the current process. */
  readonly pid: number;
  /** Settles when the current process exited. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** What the current process printed last (for failure messages). */
  readonly output: string;
  /** Sends a signal to the current process; false when it has exited. */
  signal(signal: Deno.Signal): boolean;
  /** SIGTERM, wait (at most `graceMs`, then SIGKILL); resolves with the exit status. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
  /** Starts a new process on the same port (the old one must have exited). */
  restart(): Promise<void>;
}

function commandOf(runtime: Runtime): [string, string[]] {
  return runtime === "deno" ? [Deno.execPath(), ["run", "-A", "main.ts"]] : [BUN, ["bun.ts"]];
}

/** Starts an instance under `runtime` and waits for its Listening line. */
export async function startInstance(
  runtime: Runtime,
  options: InstanceOptions = {},
): Promise<Instance> {
  const port = options.port ?? freePort();
  const name = options.name ?? `${runtime}-${port}`;
  const [command, args] = commandOf(runtime);
  let child: Child;
  const spawn = async () => {
    ({ child } = await Child.start(command, {
      args,
      cwd: ROOT,
      env: { ...options.env, HOST: "127.0.0.1", PORT: String(port) },
      echo: options.echo ? `[${name}] ` : undefined,
      ready: LISTENING_LINE,
      timeoutMs: START_LIMIT_MS,
    }));
  };
  await spawn();
  const url = `http://127.0.0.1:${port}`;
  return {
    name,
    runtime,
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}/ws/chat`,
    get pid() {
      return child.pid;
    },
    get exited() {
      return child.exited;
    },
    get output() {
      return child.output;
    },
    signal: (signal) => child.signal(signal),
    stop: (graceMs) => child.stop(graceMs),
    async restart() {
      await child.exited;
      await spawn();
    },
  };
}
