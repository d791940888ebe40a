/**
 * Starts a real `redis-server` (Debian's) on a free loopback port for a
 * test, with no persistence, and stops it again: the fleet's own
 * `ops/redis.ts`, re-exported for the suites.
 * @module
 */
export { hasRedis, REDIS_SERVER, type RedisServer, startRedis } from "../../ops/redis.ts";
