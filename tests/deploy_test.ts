import { assertEquals, assertStringIncludes } from "@std/assert";
import { ensureClientBuild } from "../client/build.ts";
import { kvPathFor, listenOptionsFor } from "../server/deploy.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

const CONFIG = { KV_PATH: "data/chat.kv", HOST: "127.0.0.1", PORT: 8000 };

Deno.test("on Deno Deploy, KV and the listener default to the platform's", () => {
  const deploy = { DENO_DEPLOYMENT_ID: "abc123" };
  assertEquals(kvPathFor(CONFIG, deploy), undefined);
  assertEquals(kvPathFor(CONFIG, { ...deploy, KV_PATH: "x.kv" }), "data/chat.kv");
  assertEquals(kvPathFor(CONFIG, {}), "data/chat.kv");
  assertEquals(listenOptionsFor(CONFIG, deploy), {});
  assertEquals(listenOptionsFor(CONFIG, {}), { hostname: "127.0.0.1", port: 8000 });
  assertEquals(listenOptionsFor(CONFIG, { ...deploy, PORT: "9000" }), {
    hostname: "127.0.0.1",
    port: 8000,
  });
});

Deno.test("the production configuration starts and answers with no file-system writes", async () => {
  await ensureClientBuild(); // the deploy build step (deno task build)
  const child = new Deno.Command(Deno.execPath(), {
    // Everything allowed except writing files, as on Deno Deploy.
    args: ["run", "-A", "--deny-write", "main.ts"],
    cwd: new URL("..", import.meta.url),
    env: { DENO_DEPLOYMENT_ID: "local-check", PORT: "0", KV_PATH: ":memory:", LOG_LEVEL: "error" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  try {
    let match: RegExpMatchArray | null = null;
    while (!(match = out.match(/Listening on (http:\/\/\S+?)\/ /))) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Server exited before listening: ${out}`);
      out += value;
    }
    const url = match[1];
    const page = await (await fetch(url)).text();
    assertStringIncludes(page, "/static/boot-");
    const client = await WsTestClient.connect(`${url.replace("http", "ws")}/ws/chat`);
    client.send({ query: "what is 1+2" });
    assertStringIncludes(textOf(await client.answer()), "**3**");
    await client.close();
  } finally {
    child.kill("SIGTERM");
    await reader.cancel();
    const status = await child.status;
    const errors = await new Response(child.stderr).text();
    assertEquals(
      errors.includes("NotCapable") || errors.includes("PermissionDenied"),
      false,
      errors,
    );
    assertEquals(status.success, true, errors);
  }
});
