/**
 * All configuration, read once from the environment into a validated object.
 * @module
 */
import { createHmac } from "node:crypto";
import { z } from "zod";
import { LOG_LEVELS } from "./log.ts";
import { isAddressOrCidr } from "./guards/client_address.ts";
import { DEFAULT_LIMITS } from "./store/retention.ts";

const integer = (min: number, max: number) =>
  z.coerce
    .number({ error: `must be an integer from ${min} to ${max}` })
    .int({ error: `must be an integer from ${min} to ${max}` })
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` });

const int = (min: number, max: number, fallback: number) => integer(min, max).default(fallback);

const ConfigSchema = z.object({
  PORT: int(0, 65_535, 8000),
  HOST: z.string().min(1, { error: "must not be empty" }).default("127.0.0.1"),
  AGENT: z.enum(["demo", "openai", "synthetic"], {
    error: 'must be one of "demo", "openai", "synthetic"',
  }).default("demo"),
  KV_PATH: z.string().min(1, { error: "must not be empty" }).default(
    "data/chat.kv",
  ),
  HISTORY_WINDOW: int(1, 1_000, 20),
  HISTORY_TTL_MS: int(1_000, 365 * 86_400_000, DEFAULT_LIMITS.historyTtlMs),
  MAX_SESSIONS_PER_OWNER: int(1, 100_000, DEFAULT_LIMITS.maxSessionsPerOwner),
  MAX_SESSION_BYTES: int(64 * 1024, 64 * 1024 * 1024, DEFAULT_LIMITS.maxSessionBytes),
  DEMO_DELAY_MS: int(0, 10_000, 25),
  SYNTHETIC_CHUNKS: int(0, 10_000_000, 100),
  SYNTHETIC_CHUNK_BYTES: int(1, 1_000_000, 16),
  SYNTHETIC_INTERVAL_MS: int(0, 60_000, 0),
  OPENAI_BASE_URL: z.url({ error: "must be a URL" }).optional(),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_MODEL: z.string().min(1, { error: "must not be empty" }).optional(),
  SSE_HEARTBEAT_MS: int(100, 15_000, 15_000),
  SSE_RETRY_MS: int(0, 600_000, 3_000),
  LOG_LEVEL: z.enum(LOG_LEVELS, {
    error: `must be one of ${LOG_LEVELS.map((level) => `"${level}"`).join(", ")}`,
  }).default("info"),
  MAX_FRAME_BYTES: int(1_024, 16 * 1024 * 1024, 64 * 1024),
  MAX_URL_BYTES: int(1_024, 1024 * 1024, 64 * 1024),
  RATE_LIMIT_PER_MINUTE: int(0, 1_000_000, 120),
  MAX_CONNECTIONS_PER_IP: int(0, 1_000_000, 64),
  MAX_ANSWERS_PER_CLIENT: int(0, 1_000_000, 4),
  MAX_OPEN_CONNECTIONS: int(0, 1_000_000, 10_000),
  HEADER_TIMEOUT_MS: int(100, 600_000, 10_000),
  ALLOWED_HOSTS: list("must be a comma-separated list of host names")
    .refine((hosts) => hosts.every((host) => HOST_NAME.test(host)), {
      error: 'must be a comma-separated list of host names like "chat.example" or "[::1]"',
    }),
  ALLOWED_ORIGINS: list("must be a comma-separated list of origins like https://app.example")
    .refine((origins) => origins.every(isOrigin), {
      error: 'must be a comma-separated list of origins like "https://app.example" or "null"',
    }),
  AUTH_TOKEN: list("must be a token"),
  AUTH_TOKENS: list("must be a comma-separated list of tokens"),
  AUTH_TICKET_TTL_S: int(1, 3_600, 30),
  WS_IDLE_TIMEOUT_S: int(0, 3_600, 30),
  AGENT_TIMEOUT_MS: int(0, 3_600_000, 60_000),
  STORE_TIMEOUT_MS: int(100, 600_000, 10_000),
  WS_HIGH_WATER_BYTES: int(1_024, 1024 * 1024 * 1024, 1024 * 1024),
  STALL_TIMEOUT_MS: int(100, 3_600_000, 30_000),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000, 10_000),
  RESUME_GRACE_MS: int(0, 3_600_000, 15_000),
  STREAM_TTL_MS: int(1_000, 86_400_000, 600_000),
  UPLOAD_MAX_BYTES: int(1, 512 * 1024, 256 * 1024),
  UPLOAD_TIMEOUT_MS: int(100, 600_000, 30_000),
  REDIS_URL: z.string().regex(/^rediss?:\/\/\S+$/, {
    error: 'must be a URL like "redis://host:6379" or "rediss://user:password@host:6380/0"',
  }).optional(),
  PRODUCER_LEASE_MS: int(300, 60_000, 5_000),
  METRICS_PORT: z.coerce.number({ error: "must be an integer from 0 to 65535" })
    .int({ error: "must be an integer from 0 to 65535" })
    .min(0, { error: "must be an integer from 0 to 65535" })
    .max(65_535, { error: "must be an integer from 0 to 65535" })
    .optional(),
  METRICS_TOKEN: z.string().regex(/^[A-Za-z0-9._~+/=-]{16,512}$/, {
    error: "must be 16-512 characters of A-Z, a-z, 0-9 or ._~+/=-",
  }).optional(),
  KEY_MESSAGES_PER_MINUTE: int(0, 1_000_000, 240),
  KEY_ANSWERS_PER_MINUTE: int(0, 1_000_000, 30),
  KEY_UPLOAD_BYTES: int(0, 1024 * 1024 * 1024 * 1024, 16 * 1024 * 1024),
  SESSION_UPLOAD_BYTES: int(0, 1024 * 1024 * 1024 * 1024, 16 * 1024 * 1024),
  STORE_UPLOAD_BYTES: int(0, 1024 * 1024 * 1024 * 1024, 1024 * 1024 * 1024),
  TRUSTED_PROXIES: list("must be a comma-separated list of addresses or CIDRs")
    .refine((entries) => entries.every(isAddressOrCidr), {
      error: 'must be a comma-separated list of IP addresses or CIDRs like "10.0.0.0/8"',
    }),
});

function list(error: string) {
  return z.string({ error }).default("").transform((value) =>
    value.split(",").map((item) => item.trim()).filter((item) => item.length > 0)
  );
}

function isOrigin(value: string): boolean {
  if (value === "null") return true;
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

/** A host name as `ALLOWED_HOSTS` lists it: a DNS name, an IPv4 address or a bracketed IPv6 one. */
const HOST_NAME = /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])$/;

/** Token characters allowed in `AUTH_TOKEN(S)`: URL- and header-safe, at least 16. */
const TOKEN = /^[A-Za-z0-9._~+/=-]{16,512}$/;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** One accepted credential: the token and the identity it authenticates. */
export interface Credential {
  /** The identity sessions are owned by. */
  name: string;
  /** The secret itself. */
  token: string;
}

/** The validated configuration. */
export type Config = z.infer<typeof ConfigSchema>;

/** Configuration is invalid; the message names the variable. */
export class ConfigError extends Error {
  /** Creates a configuration error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Reads and validates the configuration from an environment record.
 * Empty strings count as unset.
 *
 * @throws {ConfigError} naming the first invalid variable.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== "") input[key] = value;
  }
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0]);
    throw new ConfigError(
      `Invalid configuration: ${name} ${issue.message} (got ${JSON.stringify(input[name])})`,
    );
  }
  const config = parsed.data;
  credentials(config);
  if (config.AGENT === "openai" && !config.OPENAI_MODEL) {
    throw new ConfigError(
      'Invalid configuration: OPENAI_MODEL must be set when AGENT is "openai"',
    );
  }
  return config;
}

/**
 * The credentials of `AUTH_TOKEN` and `AUTH_TOKENS` (merged). Each entry is
 * `name:token` or a bare token, whose identity is then derived from the
 * token itself ({@link tokenIdentity}), so editing the list never hands one
 * token's sessions to another. Empty when authentication is off.
 *
 * @throws {ConfigError} when an entry is malformed.
 */
export function credentials(config: Config): Credential[] {
  const entries = [...config.AUTH_TOKEN, ...config.AUTH_TOKENS];
  return entries.map((entry, i) => {
    const colon = entry.indexOf(":");
    const token = colon >= 0 ? entry.slice(colon + 1) : entry;
    const name = colon >= 0 ? entry.slice(0, colon) : tokenIdentity(token);
    if (!NAME.test(name) || !TOKEN.test(token)) {
      throw new ConfigError(
        `Invalid configuration: AUTH_TOKENS entry ${
          i + 1
        } must be "name:token" or "token", the name 1-64 characters of A-Z, a-z, 0-9, _, . or -, the token 16-512 characters of A-Z, a-z, 0-9 or ._~+/=-`,
      );
    }
    return { name, token };
  });
}

/** The key of {@link tokenIdentity}'s hash: fixed, so an identity survives any edit of the list. */
const IDENTITY_KEY = "chat-stream identity of an unnamed token v1";

/**
 * The identity of an unnamed token: `token-` and the first 16 hex digits of
 * the token's HMAC-SHA-256 under a fixed key. Stable as long as the token
 * is; reveals nothing usable about it.
 */
export function tokenIdentity(token: string): string {
  return `token-${createHmac("sha256", IDENTITY_KEY).update(token).digest("hex").slice(0, 16)}`;
}
