import { assertEquals, assertStringIncludes } from "@std/assert";
import { ensureClientBuild } from "../client/build.ts";
import { kvPathFor, listenOptionsFor } from "../server/deploy.ts";
import { spawnServer } from "./helpers/spawn_server.ts";
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
  // Everything allowed except writing files, as on Deno Deploy.
  const server = await spawnServer(
    "deno",
    { DENO_DEPLOYMENT_ID: "local-check", PORT: "0", KV_PATH: ":memory:", LOG_LEVEL: "error" },
    { denoFlags: ["--deny-write"] },
  );
  let errors = "";
  try {
    const page = await (await fetch(server.url)).text();
    assertStringIncludes(page, "/static/boot-");
    const client = await WsTestClient.connect(server.wsUrl);
    client.send({ query: "what is 1+2" });
    assertStringIncludes(textOf(await client.answer()), "**3**");
    await client.close();
  } finally {
    errors = await server.close();
  }
  const status = await server.exited;
  assertEquals(
    errors.includes("NotCapable") || errors.includes("PermissionDenied"),
    false,
    errors,
  );
  assertEquals(status.success, true, errors);
});
