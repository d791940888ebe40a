/**
 * The client address is read once per request, however many guards need
 * it (the per-address connection limit and the client key): each reading
 * of the peer address is a system call on Bun. A real server on a real
 * port, real requests.
 */
import { assertEquals } from "@std/assert";
import { Hono } from "hono";
import { clientKeyGuard } from "../server/guards/budgets.ts";
import { oncePerRequest } from "../server/guards/client_address.ts";
import { connectionLimit, defaultClientAddress } from "../server/guards/connection_limit.ts";
import type { GuardEnv } from "../server/guards/env.ts";

Deno.test("the client address is read once per request by the guards that share it", async () => {
  let reads = 0;
  const address = oncePerRequest((c) => {
    reads++;
    return defaultClientAddress(c);
  });
  const app = new Hono<GuardEnv>();
  app.get(
    "/",
    clientKeyGuard(address),
    connectionLimit(10, address),
    (c) => c.json({ client: c.get("client"), clientKey: c.get("clientKey") }),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    for (let i = 1; i <= 3; i++) {
      const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
      assertEquals(await response.json(), { client: "127.0.0.1", clientKey: "ip:127.0.0.1" });
      assertEquals(reads, i);
    }
  } finally {
    await server.shutdown();
  }
});
