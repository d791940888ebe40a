/**
 * Finding 1 of issue 16: running out of file descriptors must not end the
 * server, idle pre-request connections are closed after the header
 * timeout (slowloris), and the server serves again once they go. A real
 * child process under `ulimit -n 256`, 400 real idle TCP connections.
 */
import { assert, assertEquals } from "@std/assert";
import { startServer } from "./helpers/server.ts";
import { spawnServer } from "./helpers/spawn_server.ts";
import { RUNTIMES } from "./helpers/runtimes.ts";
import { textOf, WsTestClient } from "./helpers/ws_client.ts";

const IDLE_CONNECTIONS = 400;

/** Opens up to `count` TCP connections that send nothing; failures to connect are counted. */
async function idleConnections(url: string, count: number) {
  const { hostname, port } = new URL(url);
  const conns: Deno.TcpConn[] = [];
  let refused = 0;
  for (let i = 0; i < count; i++) {
    try {
      conns.push(await Deno.connect({ hostname, port: Number(port) }));
    } catch {
      refused++;
    }
  }
  return { conns, refused };
}

/** GET /healthz, tried again (bounded) while the server recovers: the status, or 0. */
async function healthz(url: string, attempts = 50): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    try {
      const response = await fetch(`${url}/healthz`);
      await response.body?.cancel();
      return response.status;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return 0;
}

for (const { runtime, ignore } of RUNTIMES) {
  Deno.test({
    name:
      `finding 1 (${runtime}): ${IDLE_CONNECTIONS} idle connections under ulimit -n 256 do not end the server; it serves again when they go`,
    ignore,
    async fn() {
      const server = await spawnServer(runtime, { HEADER_TIMEOUT_MS: "2000" }, { fdLimit: 256 });
      try {
        const { conns } = await idleConnections(server.url, IDLE_CONNECTIONS);
        // Give the server time to hit its limit while the connections are held.
        await new Promise((resolve) => setTimeout(resolve, 500));
        for (const conn of conns) {
          try {
            conn.close();
          } catch {
            // Closed by the server already (shed or header timeout).
          }
        }
        const exited = await Promise.race([server.exited.then(() => true), Promise.resolve(false)]);
        assert(!exited, "the server process is still running");
        assertEquals(await healthz(server.url), 200);
        const client = await WsTestClient.connect(server.wsUrl);
        client.send({ query: "still there?" });
        assert(textOf(await client.answer()).length > 0);
        await client.close();
      } finally {
        const stderr = await server.close();
        assert(!stderr.includes("Uncaught"), stderr);
      }
    },
  });
}

Deno.test("finding 1: a connection that sends no request head is closed after HEADER_TIMEOUT_MS", async () => {
  const server = await startServer({ HEADER_TIMEOUT_MS: "300" });
  const { hostname, port } = new URL(server.url);
  try {
    const idle = await Deno.connect({ hostname, port: Number(port) });
    const partial = await Deno.connect({ hostname, port: Number(port) });
    await partial.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    // Old behaviour: both stay open for ever; a bound far past the timeout ends the wait.
    let guard: ReturnType<typeof setTimeout> | undefined;
    const stillOpen = new Promise<string>((resolve) => {
      guard = setTimeout(() => resolve("still open"), 15_000);
    });
    const [a, b] = await Promise.all([idle, partial].map(async (conn) => {
      const n = await Promise.race([conn.read(new Uint8Array(64)).catch(() => null), stillOpen]);
      conn.close();
      return n;
    }));
    clearTimeout(guard);
    assertEquals(a, null, "the idle connection was closed by the server");
    assertEquals(b, null, "the partial request was closed by the server");
    assertEquals(await healthz(server.url, 1), 200);
  } finally {
    await server.close();
  }
});

/** Sends one keep-alive request on a raw connection and reads its whole response head and body. */
async function keepAliveRequest(conn: Deno.TcpConn): Promise<string> {
  await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  const buffer = new Uint8Array(4096);
  let text = "";
  // The body is small JSON: read until it is complete.
  while (!text.includes("}")) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

Deno.test("at MAX_OPEN_CONNECTIONS, the connection idle the longest makes room for a new client; one is shed only when none is idle", async () => {
  const server = await startServer({
    MAX_OPEN_CONNECTIONS: "3",
    AGENT: "synthetic",
    SYNTHETIC_CHUNKS: "3",
    SYNTHETIC_INTERVAL_MS: "60000",
    SHUTDOWN_TIMEOUT_MS: "200",
  });
  const { hostname, port } = new URL(server.url);
  const conns: Deno.TcpConn[] = [];
  const streams: Response[] = [];
  const clients: Deno.HttpClient[] = [];
  try {
    // Three keep-alive clients, each idle after one request: the cap is reached.
    for (let i = 0; i < 3; i++) {
      const conn = await Deno.connect({ hostname, port: Number(port) });
      conns.push(conn);
      assert((await keepAliveRequest(conn)).startsWith("HTTP/1.1 200"));
    }
    // Before: this client was shed (its connection closed unanswered).
    const admitted = await fetch(`${server.url}/healthz`, { headers: { connection: "close" } });
    assertEquals(admitted.status, 200);
    await admitted.body?.cancel();
    // The first of the idle ones made room: the server closed it.
    assertEquals(await conns[0].read(new Uint8Array(16)).catch(() => null), null);
    // Now every open connection busy with a request (answers that wait a minute per chunk): shed.
    for (const conn of conns) conn.close();
    conns.length = 0;
    for (let i = 0; i < 3; i++) {
      const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
      clients.push(client);
      const response = await fetch(`${server.url}/agent_chat_stream?query=hold`, { client });
      assertEquals(response.status, 200);
      streams.push(response);
    }
    const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    clients.push(client);
    const shed = await fetch(`${server.url}/healthz`, { client }).then((r) => r.status, () => 0);
    assertEquals(shed, 0, "a fourth client is shed while three answers stream");
  } finally {
    for (const conn of conns) conn.close();
    await Promise.all(streams.map((response) => response.body?.cancel()));
    await server.close();
    for (const client of clients) client.close();
  }
});
