/**
 * The load balancer of a fleet: writes an HAProxy configuration (round
 * robin, no sticky sessions, WebSocket and SSE streamed through, active
 * health checks on the readiness endpoint, retries on another instance)
 * and runs Debian's HAProxy in the foreground with it.
 * @module
 */
import { join } from "node:path";
import { Child, isFile, waitForPort } from "./process.ts";

/** Path of the HAProxy binary. */
export const HAPROXY = "/usr/sbin/haproxy";

/** True when HAProxy is installed. */
export function hasHaproxy(): boolean {
  return isFile(HAPROXY);
}

/** One backend server. */
export interface Upstream {
  /** Name shown in HAProxy's log, e.g. `deno-1`. */
  name: string;
  /** Its port on 127.0.0.1. */
  port: number;
}

/** What the configuration is made of. */
export interface HaproxyOptions {
  /** Port the load balancer listens on (127.0.0.1). */
  port: number;
  /** The instances, in round-robin order. */
  upstreams: Upstream[];
  /** Health-check path (200 = in rotation). Default `/readyz`. */
  healthPath?: string;
  /** Health-check interval in ms. Default 500: a draining instance leaves in about that. */
  checkIntervalMs?: number;
  /** Concurrent connections per client address, enforced here (0 = off). Default 0. */
  maxConnectionsPerClient?: number;
  /** Port of the statistics page (CSV at `/;csv`); none when unset. */
  statsPort?: number;
}

/** The HAProxy configuration for `options`. */
export function haproxyConfig(options: HaproxyOptions): string {
  const inter = options.checkIntervalMs ?? 500;
  const limit = options.maxConnectionsPerClient ?? 0;
  const servers = options.upstreams.map(({ name, port }) =>
    `  server ${name} 127.0.0.1:${port} check`
  );
  const perClient = limit > 0
    ? [
      "  # Per-client connection limit: the instances only see the balancer's address.",
      "  stick-table type ip size 100k expire 60s store conn_cur",
      "  tcp-request connection track-sc0 src",
      `  tcp-request connection reject if { sc0_conn_cur gt ${limit} }`,
    ]
    : [];
  const stats = options.statsPort
    ? [
      "",
      "frontend stats",
      `  bind 127.0.0.1:${options.statsPort}`,
      "  stats enable",
      "  stats uri /",
    ]
    : [];
  return [
    "global",
    "  maxconn 4096",
    "  # Server state changes (UP/DOWN) go to stdout.",
    "  log stdout format raw local0 notice",
    "",
    "defaults",
    "  mode http",
    "  log global",
    "  option forwardfor",
    "  timeout connect 2s",
    "  timeout http-request 10s",
    "  timeout queue 5s",
    "  # SSE is a long response: the server sends a heartbeat at least every 15 s.",
    "  timeout client 65s",
    "  timeout server 65s",
    "  # An upgraded WebSocket is a tunnel: long idle allowed (the app pings).",
    "  timeout tunnel 1h",
    "  timeout client-fin 5s",
    "  # A request that meets a dead or draining instance is sent to another one.",
    "  retries 3",
    "  option redispatch 1",
    "  retry-on conn-failure empty-response response-timeout 503",
    "",
    "frontend chat",
    `  bind 127.0.0.1:${options.port}`,
    ...perClient,
    "  default_backend instances",
    "",
    "backend instances",
    "  balance roundrobin",
    "  option httpchk",
    "  # HTTP/1.1 with a Host header: Bun answers a Host-less HTTP/1.0 request with 404.",
    `  http-check send meth GET uri ${
      options.healthPath ?? "/readyz"
    } ver HTTP/1.1 hdr Host localhost`,
    "  http-check expect status 200",
    `  default-server inter ${inter}ms fastinter ${inter}ms downinter ${inter}ms fall 1 rise 2`,
    ...servers,
    ...stats,
    "",
  ].join("\n");
}

/** One server's line of the statistics page. */
export interface UpstreamStats {
  /** `UP`, `DOWN`, `MAINT`, `UP 1/2` (rising), `DOWN 1/2`... */
  status: string;
  /** Result of the last health check (`L7OK`, `L7STS`, `L4CON`...). */
  check: string;
  /** Sessions (requests and tunnels) it received. */
  sessions: number;
  /** Requests retried (`wretr`). */
  retries: number;
  /** Requests sent to another server than the first chosen (`wredis`). */
  redispatches: number;
}

/** A running HAProxy. */
export interface Haproxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Where the configuration was written. */
  configPath: string;
  /** `http://127.0.0.1:<statsPort>/` when a statistics port was given. */
  statsUrl?: string;
  /** What HAProxy printed last (state changes, errors). */
  readonly output: string;
  /** Each upstream's statistics, by name (needs `statsPort`). */
  stats(): Promise<Map<string, UpstreamStats>>;
  /**
   * Waits until `name` is in rotation (`"up"`: UP after a passed check) or
   * out of it (`"down"`), polling the statistics.
   */
  waitFor(name: string, state: "up" | "down", timeoutMs: number): Promise<void>;
  /** Stops HAProxy and removes its configuration. */
  stop(): Promise<void>;
}

/** Reads the CSV statistics page into one entry per server of the `instances` backend. */
async function readStats(statsUrl: string): Promise<Map<string, UpstreamStats>> {
  const response = await fetch(`${statsUrl};csv`);
  if (!response.ok) throw new Error(`Cannot read HAProxy statistics: HTTP ${response.status}`);
  const [header, ...rows] = (await response.text()).trim().split("\n");
  const columns = header.replace(/^# /, "").split(",");
  const at = (name: string) => columns.indexOf(name);
  const stats = new Map<string, UpstreamStats>();
  for (const row of rows.map((line) => line.split(","))) {
    if (row[at("pxname")] !== "instances" || row[at("svname")] === "BACKEND") continue;
    stats.set(row[at("svname")], {
      status: row[at("status")],
      check: row[at("check_status")],
      sessions: Number(row[at("stot")]),
      retries: Number(row[at("wretr")]),
      redispatches: Number(row[at("wredis")]),
    });
  }
  return stats;
}

/** Throws when something already listens on 127.0.0.1:`port`. */
function assertFree(port: number): void {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } catch (error) {
    throw new Error(`Cannot start HAProxy: port ${port} is not free: ${error}`);
  }
}

/** Writes the configuration to a temporary directory and runs `haproxy -db` with it. */
export async function startHaproxy(
  options: HaproxyOptions & { echo?: string },
): Promise<Haproxy> {
  assertFree(options.port);
  const dir = await Deno.makeTempDir({ prefix: "fleet-haproxy-" });
  const configPath = join(dir, "haproxy.cfg");
  await Deno.writeTextFile(configPath, haproxyConfig(options));
  const check = await new Deno.Command(HAPROXY, { args: ["-c", "-q", "-f", configPath] }).output();
  if (!check.success) {
    await Deno.remove(dir, { recursive: true });
    const detail = new TextDecoder().decode(check.stderr).trim();
    throw new Error(`Cannot start HAProxy: invalid configuration: ${detail}`);
  }
  const child = Child.spawn(HAPROXY, { args: ["-db", "-f", configPath], echo: options.echo });
  try {
    await Promise.race([
      waitForPort(options.port, 10_000),
      child.exited.then((status) => {
        throw new Error(`Cannot start HAProxy: exited with ${status.code}: ${child.output}`);
      }),
    ]);
  } catch (error) {
    await child.stop(1_000);
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const statsUrl = options.statsPort ? `http://127.0.0.1:${options.statsPort}/` : undefined;
  const stats = () => {
    if (!statsUrl) throw new Error("Cannot read HAProxy statistics: no statsPort was given");
    return readStats(statsUrl);
  };
  return {
    url: `http://127.0.0.1:${options.port}`,
    configPath,
    statsUrl,
    get output() {
      return child.output;
    },
    stats,
    async waitFor(name, state, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let seen: UpstreamStats | undefined;
      while (Date.now() < deadline) {
        seen = (await stats()).get(name);
        const up = seen?.status === "UP" && seen.check.startsWith("L7OK");
        const down = seen?.status.startsWith("DOWN") || seen?.status.startsWith("MAINT");
        if (state === "up" ? up : down) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(
        `Cannot see "${name}" ${state} in HAProxy within ${timeoutMs} ms: last seen ${
          JSON.stringify(seen)
        }`,
      );
    },
    async stop() {
      await child.stop(5_000);
      await Deno.remove(dir, { recursive: true });
    },
  };
}
