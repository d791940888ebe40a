/**
 * What changes on Deno Deploy: the platform's KV database and listener.
 * Deno Deploy sets `DENO_DEPLOYMENT_ID`; nothing else here reads it.
 * @module
 */

/** Environment variables, as `Deno.env.toObject()` returns them. */
export type Env = Record<string, string | undefined>;

/** True when running on Deno Deploy. */
export function onDenoDeploy(env: Env): boolean {
  return Boolean(env.DENO_DEPLOYMENT_ID);
}

/**
 * Where KV lives: `KV_PATH` when set; on Deno Deploy without `KV_PATH`,
 * the platform's database (`undefined`, so nothing is written to disk);
 * else the configured default file.
 */
export function kvPathFor(config: { KV_PATH: string }, env: Env): string | undefined {
  if (onDenoDeploy(env) && !env.KV_PATH) return undefined;
  return config.KV_PATH;
}

/**
 * The listener's address: `HOST`/`PORT` when set; on Deno Deploy without
 * them, the platform's choice; else the configured defaults.
 */
export function listenOptionsFor(
  config: { HOST: string; PORT: number },
  env: Env,
): { hostname?: string; port?: number } {
  if (onDenoDeploy(env) && !env.PORT && !env.HOST) return {};
  return { hostname: config.HOST, port: config.PORT };
}
