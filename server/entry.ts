/**
 * The command-line start shared by `main.ts` (Deno) and `bun.ts` (Bun):
 * read the configuration (exit 1 naming a bad variable), build the client,
 * serve, print the Listening line, drain on SIGINT/SIGTERM.
 * @module
 */
import process from "node:process";
import { type Config, ConfigError, loadConfig } from "./config.ts";

/** A server a runtime entry started. */
export interface Running {
  /** `http://host:port` of the listener. */
  url: string;
  /** Drains connections and stops. */
  close(): Promise<void>;
}

/** Runs an entry point: `build` the client, then `start` the server. */
export async function runEntry(
  start: (config: Config) => Promise<Running>,
  build: () => Promise<unknown>,
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  await build();
  const running = await start(config);
  console.log(`Listening on ${running.url}/ (agent: ${config.AGENT})`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      process.on(signal, async () => {
        console.log(`${signal}: draining (at most ${config.SHUTDOWN_TIMEOUT_MS} ms)`);
        await running.close();
        process.exit(0);
      });
    } catch {
      // Platforms without signals (Deno Deploy) stop isolates themselves.
    }
  }
}
