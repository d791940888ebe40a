/**
 * The fleet harness itself: 1 Deno + 1 Bun instance sharing a real
 * redis-server behind a real HAProxy (round robin, no sticky sessions);
 * WebSocket and SSE answers through the load balancer arrive complete.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { haproxyConfig } from "../ops/haproxy.ts";
import { startFleet } from "../ops/fleet.ts";
import { assertWholeAnswer, FLEET_IGNORE } from "./helpers/fleet.ts";
import { readSse } from "./helpers/sse_client.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

const QUESTION = "what is 12 * (3 + 4)?";

Deno.test("haproxy config: round robin, no stickiness, readiness checks, retries elsewhere", () => {
  const config = haproxyConfig({
    port: 8080,
    upstreams: [{ name: "deno-1", port: 9001 }, { name: "bun-1", port: 9002 }],
  });
  assertStringIncludes(config, "balance roundrobin");
  assertStringIncludes(config, "http-check send meth GET uri /readyz ver HTTP/1.1");
  assertStringIncludes(config, "retry-on conn-failure empty-response response-timeout 503");
  assertStringIncludes(config, "option redispatch");
  assertStringIncludes(config, "timeout tunnel 1h");
  assertStringIncludes(config, "server deno-1 127.0.0.1:9001 check");
  assertStringIncludes(config, "server bun-1 127.0.0.1:9002 check");
  for (const sticky of ["cookie", "stick on", "balance source", "hash-type"]) {
    assert(!config.includes(sticky), `no "${sticky}": no sticky sessions`);
  }
});

Deno.test({
  name: "fleet: 1 Deno + 1 Bun on Redis behind HAProxy: WS and SSE answers arrive complete",
  ignore: FLEET_IGNORE,
  async fn() {
    const fleet = await startFleet({
      deno: 1,
      bun: 1,
      env: { AGENT: "demo", DEMO_DELAY_MS: "1", LOG_LEVEL: "error" },
    });
    try {
      assertEquals(fleet.instances.map((i) => i.runtime), ["deno", "bun"]);
      const ready = await fetch(`${fleet.url}/readyz`);
      assertEquals([ready.status, (await ready.json()).backend], [200, "redis"]);

      for (let i = 0; i < 2; i++) {
        const client = await WsTestClient.connect(fleet.wsUrl);
        client.send({ query: QUESTION, session_id: `fleet-ws-${i}` });
        const frames = await client.answer();
        await client.close();
        assertWholeAnswer(frames);
        assertStringIncludes(textOf(frames), "84");
      }
      for (let i = 0; i < 2; i++) {
        const params = new URLSearchParams({ query: QUESTION, session_id: `fleet-sse-${i}` });
        const response = await fetch(`${fleet.url}/agent_chat_stream?${params}`);
        assertEquals(response.status, 200);
        assertStringIncludes(response.headers.get("content-type") ?? "", "text/event-stream");
        const frames = (await readSse(response)).map((event) => event.json);
        assertWholeAnswer(frames);
        assertStringIncludes(textOf(frames), "84");
      }
      // Round robin with no stickiness: both instances served requests.
      const stats = await fleet.haproxy.stats();
      for (const instance of fleet.instances) {
        const served = stats.get(instance.name)?.sessions ?? 0;
        assert(served >= 1, `${instance.name} served ${served} requests`);
      }
    } finally {
      await fleet.close();
    }
  },
});
