import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { ConfigError, loadConfig } from "../server/config.ts";

Deno.test("config defaults: port 8000 on 127.0.0.1, demo agent", () => {
  const config = loadConfig({});
  assertEquals(config.PORT, 8000);
  assertEquals(config.HOST, "127.0.0.1");
  assertEquals(config.AGENT, "demo");
  assertEquals(config.MAX_FRAME_BYTES, 65_536);
});

Deno.test("config reads values from the environment", () => {
  const config = loadConfig({
    PORT: "9000",
    HOST: "0.0.0.0",
    AGENT: "synthetic",
    SYNTHETIC_CHUNKS: "5",
  });
  assertEquals([
    config.PORT,
    config.HOST,
    config.AGENT,
    config.SYNTHETIC_CHUNKS,
  ], [9000, "0.0.0.0", "synthetic", 5]);
});

Deno.test("an invalid value stops start-up with a message naming the variable", async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: "eighty" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ PORT: "80.5" }, "PORT"],
    [{ AGENT: "gpt" }, "AGENT"],
    [{ SYNTHETIC_CHUNK_BYTES: "0" }, "SYNTHETIC_CHUNK_BYTES"],
    [{ OPENAI_BASE_URL: "not a url" }, "OPENAI_BASE_URL"],
    [{ AGENT: "openai" }, "OPENAI_MODEL"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ REDIS_URL: "localhost:6379" }, "REDIS_URL"],
    [{ PRODUCER_LEASE_MS: "10" }, "PRODUCER_LEASE_MS"],
  ];
  for (const [env, name] of cases) {
    await t.step(JSON.stringify(env), () => {
      const error = assertThrows(() => loadConfig(env), ConfigError);
      assertStringIncludes(error.message, `Invalid configuration: ${name}`);
    });
  }
});

Deno.test("main.ts exits with status 1 and names the variable on bad config", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    env: { PORT: "not-a-port" },
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(output.code, 1);
  assertStringIncludes(
    new TextDecoder().decode(output.stderr),
    "PORT must be an integer",
  );
});
