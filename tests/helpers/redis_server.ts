/**
 * Starts a real `redis-server` (Debian's) on a free loopback port for a
 * test, with no persistence, and stops it again.
 * @module
 */

/** A running redis-server. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Stops it (SIGTERM) and waits for the exit. */
  stop(): Promise<void>;
}

/** Path of the server binary; tests that need it are skipped without it. */
export const REDIS_SERVER = "/usr/bin/redis-server";

/** True when redis-server is installed. */
export function hasRedis(): boolean {
  try {
    return Deno.statSync(REDIS_SERVER).isFile;
  } catch {
    return false;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Starts redis-server on `port` (a free one by default) and waits until it answers. */
export async function startRedis(port = freePort()): Promise<RedisServer> {
  const child = new Deno.Command(REDIS_SERVER, {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      await child.status;
    },
  };
}
