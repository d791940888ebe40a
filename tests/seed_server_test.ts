/**
 * The seed's stack as a bench peer (`bench/seed_server.py`): its sockets
 * must have Nagle off, as under `uvicorn --host --port`, or every frame sent
 * right after another small one waits for the client's delayed ACK (the
 * seed read 43.9 ms to a new WebSocket's first chunk instead of ~2 ms).
 * @module
 */
import { assertEquals } from "@std/assert";
import { PYTHON_BIN, seedUnavailable } from "../bench/lib/launch.ts";

/**
 * Accepts one connection on the seed's own listening socket through
 * asyncio (the event loop uvicorn serves on) and prints the accepted
 * socket's TCP_NODELAY.
 */
const PROBE = `
import asyncio, socket, sys
sys.path.insert(0, "bench")
import seed_server

async def main():
    sock = seed_server.listening_socket("127.0.0.1", 0)
    accepted = asyncio.get_running_loop().create_future()

    async def on_connection(reader, writer):
        s = writer.get_extra_info("socket")
        accepted.set_result(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connection, sock=sock)
    _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
    print(await asyncio.wait_for(accepted, 10))
    writer.close()
    server.close()

asyncio.run(main())
`;

Deno.test({
  name: "seed peer: the sockets it accepts have TCP_NODELAY on, as under uvicorn --host --port",
  ignore: seedUnavailable() !== undefined,
  async fn() {
    const out = await new Deno.Command(PYTHON_BIN, {
      args: ["-c", PROBE],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, `probe failed: ${stderr}`);
    assertEquals(new TextDecoder().decode(out.stdout).trim() !== "0", true, "TCP_NODELAY is off");
  },
});
