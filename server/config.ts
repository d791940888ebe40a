/**
 * All configuration, read once from the environment into a validated object.
 * @module
 */
import { z } from "zod";

const int = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: `must be an integer from ${min} to ${max}` })
    .int({ error: `must be an integer from ${min} to ${max}` })
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` })
    .default(fallback);

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
  DEMO_DELAY_MS: int(0, 10_000, 25),
  SYNTHETIC_CHUNKS: int(0, 10_000_000, 100),
  SYNTHETIC_CHUNK_BYTES: int(1, 1_000_000, 16),
  SYNTHETIC_INTERVAL_MS: int(0, 60_000, 0),
  OPENAI_BASE_URL: z.url({ error: "must be a URL" }).optional(),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_MODEL: z.string().min(1, { error: "must not be empty" }).optional(),
  SSE_HEARTBEAT_MS: int(100, 15_000, 15_000),
  SSE_RETRY_MS: int(0, 600_000, 3_000),
  LOG_LEVEL: z.enum(["debug", "info", "error", "silent"], {
    error: 'must be one of "debug", "info", "error", "silent"',
  }).default("info"),
  MAX_FRAME_BYTES: int(1_024, 16 * 1024 * 1024, 64 * 1024),
});

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
  if (config.AGENT === "openai" && !config.OPENAI_MODEL) {
    throw new ConfigError(
      'Invalid configuration: OPENAI_MODEL must be set when AGENT is "openai"',
    );
  }
  return config;
}
