/**
 * A fleet on one machine: a real `redis-server` (unless `REDIS_URL` is
 * given), N server instances mixing Deno and Bun with `REDIS_URL` set, and
 * HAProxy in front doing round robin without sticky sessions. A library
 * for the tests ({@link startFleet}) and the command behind `deno task fleet`:
 *
 *     deno task fleet --deno 2 --bun 1 --port 8080
 * @module
 */
import { parseArgs } from "node:util";
import { type Haproxy, startHaproxy } from "./haproxy.ts";
import { type Instance, type Runtime, startInstance } from "./instance.ts";
import { freePort } from "./process.ts";
import { type RedisServer, startRedis } from "./redis.ts";

/** Options of {@link startFleet}. */
export interface FleetOptions {
  /** Deno instances (`deno run -A main.ts`). Default 2. */
  deno?: number;
  /** Bun instances (`bun bun.ts`). Default 1. */
  bun?: number;
  /** Port of the load balancer on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Use this Redis/Valkey instead of starting a redis-server. */
  redisUrl?: string;
  /** Environment of every instance (added to this process's). */
  env?: Record<string, string>;
  /** Health-check path of the load balancer. Default `/readyz`. */
  healthPath?: string;
  /** Per-client connection limit at the load balancer (0 = off). Default 0. */
  maxConnectionsPerClient?: number;
  /** Print every process's output, prefixed with its name. */
  echo?: boolean;
}

/** A running fleet. */
export interface Fleet {
  /** The load balancer: `http://127.0.0.1:<port>`. */
  url: string;
  /** `ws://127.0.0.1:<port>/ws/chat` through the load balancer. */
  wsUrl: string;
  /** The Redis every instance shares. */
  redisUrl: string;
  /** The instances, in the load balancer's round-robin order. */
  instances: Instance[];
  /** The load balancer (statistics, state of each instance). */
  haproxy: Haproxy;
  /** Stops the fleet's own redis-server (an outage); its data is gone. */
  stopRedis(): Promise<void>;
  /** Starts the fleet's redis-server again on the same port. */
  startRedis(): Promise<void>;
  /**
   * Restarts `instance` as a deploy would: SIGTERM, wait for the exit, start
   * again, and wait until the load balancer has it back in rotation.
   */
  restart(instance: Instance): Promise<void>;
  /** Stops everything: instances (SIGTERM, wait, SIGKILL), HAProxy, redis-server. */
  close(): Promise<void>;
}

/** Bounds the load balancer's health checks seeing a change (not a timing assertion). */
const ROTATION_LIMIT_MS = 30_000;

/** Instance names and runtimes in round-robin order, the runtimes interleaved. */
function plan(deno: number, bun: number): { name: string; runtime: Runtime }[] {
  const out: { name: string; runtime: Runtime }[] = [];
  for (let i = 1; i <= Math.max(deno, bun); i++) {
    if (i <= deno) out.push({ name: `deno-${i}`, runtime: "deno" });
    if (i <= bun) out.push({ name: `bun-${i}`, runtime: "bun" });
  }
  return out;
}

/** Starts Redis (unless given), the instances, then HAProxy in front of them. */
export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const members = plan(options.deno ?? 2, options.bun ?? 1);
  if (members.length === 0) throw new Error("Cannot start a fleet: no instances asked for");
  const cleanup: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    let redis: RedisServer | undefined;
    if (!options.redisUrl) {
      redis = await startRedis({ echo: options.echo ? "[redis] " : undefined });
      cleanup.push(() => redis!.stop());
    }
    const redisUrl = options.redisUrl ?? redis!.url;
    const env = {
      // Behind the balancer every peer has its address: limit clients there instead.
      MAX_CONNECTIONS_PER_IP: "0",
      // HAProxy (`option forwardfor`, on loopback) says who the client is: budgets per real client.
      TRUSTED_PROXIES: "127.0.0.1",
      ...options.env,
      REDIS_URL: redisUrl,
    };
    const start = (member: { name: string; runtime: Runtime }) =>
      startInstance(member.runtime, { name: member.name, env, echo: options.echo });
    const instances: Instance[] = [];
    const stopInstances = () => Promise.all(instances.map((instance) => instance.stop()));
    cleanup.push(stopInstances);
    // The first start builds the client bundle if needed; the others then find it built.
    instances.push(await start(members[0]));
    const rest = await Promise.allSettled(members.slice(1).map(start));
    for (const result of rest) if (result.status === "fulfilled") instances.push(result.value);
    const failed = rest.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    const port = options.port ?? freePort();
    const haproxy = await startHaproxy({
      port,
      upstreams: instances.map(({ name, port }) => ({ name, port })),
      healthPath: options.healthPath,
      maxConnectionsPerClient: options.maxConnectionsPerClient,
      statsPort: freePort(),
      echo: options.echo ? "[haproxy] " : undefined,
    });
    cleanup.push(() => haproxy.stop());
    for (const instance of instances) {
      await haproxy.waitFor(instance.name, "up", ROTATION_LIMIT_MS);
    }
    return {
      url: haproxy.url,
      wsUrl: `${haproxy.url.replace(/^http/, "ws")}/ws/chat`,
      redisUrl,
      instances,
      haproxy,
      async stopRedis() {
        if (!redis) throw new Error("Cannot stop Redis: the fleet uses an outside REDIS_URL");
        await redis.stop();
      },
      async startRedis() {
        if (!redis) throw new Error("Cannot start Redis: the fleet uses an outside REDIS_URL");
        await redis.start();
      },
      async restart(instance) {
        await instance.stop();
        await instance.restart();
        await haproxy.waitFor(instance.name, "up", ROTATION_LIMIT_MS);
      },
      close: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

const USAGE = `Usage: deno task fleet [--deno N] [--bun N] [--port PORT]

Starts redis-server (unless REDIS_URL is set), N Deno and N Bun instances
with REDIS_URL set, and HAProxy on 127.0.0.1:PORT in front of them.
Every other variable of this environment (AGENT, ...) goes to the instances.

  --deno N      Deno instances (default 2)
  --bun N       Bun instances (default 1)
  --port PORT   load balancer port (default 8080)
  --max-conn N  concurrent connections per client address at the balancer (default 64, 0 = off)
  --quiet       do not print the processes' output`;

/** The command line: start, print the addresses, stop everything on Ctrl-C or SIGTERM. */
async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      deno: { type: "string", default: "2" },
      bun: { type: "string", default: "1" },
      port: { type: "string", default: "8080" },
      "max-conn": { type: "string", default: "64" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return console.log(USAGE);
  const count = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) {
      console.error(`Cannot start the fleet: --${name} must be an integer >= 0 (got "${value}")`);
      Deno.exit(2);
    }
    return n;
  };
  const fleet = await startFleet({
    deno: count("deno", values.deno),
    bun: count("bun", values.bun),
    port: count("port", values.port),
    maxConnectionsPerClient: count("max-conn", values["max-conn"]),
    redisUrl: Deno.env.get("REDIS_URL") || undefined,
    echo: !values.quiet,
  });
  console.log(`\nFleet ready (Ctrl-C stops everything)`);
  console.log(`  load balancer  ${fleet.url}/  (HAProxy, round robin, checks /readyz)`);
  console.log(`  statistics     ${fleet.haproxy.statsUrl}`);
  console.log(`  redis          ${fleet.redisUrl}`);
  for (const instance of fleet.instances) {
    console.log(`  ${instance.name.padEnd(14)} ${instance.url}/  pid ${instance.pid}`);
  }
  const { promise: stopped, resolve } = Promise.withResolvers<Deno.Signal>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => resolve(signal));
  }
  console.log(`${await stopped}: stopping the fleet`);
  await fleet.close();
  Deno.exit(0);
}

if (import.meta.main) await main(Deno.args);
