/**
 * Control-frame ping floods (issue 18): Bun reports each ping to the app,
 * which counts it against the socket's message budget and closes abusers
 * (4029); Deno answers pings inside the runtime and never shows them to the
 * app, so there the flood is measured and bystanders must keep streaming.
 * App-level `ping` frames count against the budget on both
 * (`hardening_limits_test.ts`).
 */
import { assert, assertEquals } from "@std/assert";
import { CloseCode } from "../protocol/codes.ts";
import { Opcode, rawFrame, RawWs } from "./helpers/raw_ws.ts";
import { type Runtime, RUNTIMES, warnIfNoBun } from "./helpers/runtimes.ts";
import { spawnServer } from "./helpers/spawn_server.ts";
import { within } from "./helpers/within.ts";
import { WsTestClient } from "./helpers/ws_client.ts";

warnIfNoBun();

const LIMIT = 50;
const FLOOD_MS = 3_000;

/** Floods `url` with control pings for FLOOD_MS (1,000 per write) while reading what comes back. */
async function flood(url: string) {
  const ws = await RawWs.connect(url);
  const batch = new Uint8Array(
    Array.from({ length: 1_000 }, () => [...rawFrame(Opcode.Ping, "p")]).flat(),
  );
  let pongs = 0;
  let close: number | null | undefined;
  const reading = (async () => {
    while (true) {
      const frame = await ws.next();
      if (!frame) return void (close ??= null);
      if (frame.opcode === Opcode.Pong) pongs++;
      if (frame.opcode === Opcode.Close) {
        close = (frame.payload[0] << 8) | frame.payload[1];
        return;
      }
    }
  })();
  let sent = 0;
  const until = Date.now() + FLOOD_MS;
  while (Date.now() < until && close === undefined && await ws.write(batch)) sent += 1_000;
  ws.close();
  await within(reading, 5_000, "the end of the flooded socket").catch(() => {});
  return { sent, pongs, close };
}

/** A bystander asks and gets its whole answer; resolves with the elapsed ms (reported only). */
function bystander(url: string): Promise<number> {
  const answered = (async () => {
    const client = await WsTestClient.connect(url);
    try {
      client.send({ query: "what is 2+3*4" });
      assertEquals((await client.answer()).at(-1)?.type, "done");
    } finally {
      await client.close();
    }
  })();
  return within(answered, 30_000, "a bystander's answer");
}

for (const { runtime, ignore } of RUNTIMES) {
  Deno.test({
    name: `[${runtime}] control ping flood: ${
      runtime === "bun"
        ? "counted against the budget, closed 4029"
        : "measured; bystanders keep streaming"
    }`,
    ignore,
    async fn() {
      const server = await spawnServer(runtime as Runtime, {
        RATE_LIMIT_PER_MINUTE: String(LIMIT),
      });
      try {
        const quiet = await bystander(server.wsUrl);
        const flooding = flood(server.wsUrl);
        const busy = await bystander(server.wsUrl);
        const { sent, pongs, close } = await flooding;
        console.log(
          `${runtime}: ${sent} control pings sent in ${FLOOD_MS} ms, ${pongs} pongs, close ${close}; ` +
            `a bystander's answer took ${busy.toFixed(0)} ms (${
              quiet.toFixed(0)
            } ms before the flood)`,
        );
        if (runtime === "bun") {
          assertEquals(close, CloseCode.RateLimited);
          assert(pongs <= LIMIT + 1, `Expected at most ${LIMIT + 1} pongs, got ${pongs}`);
        }
      } finally {
        await server.close();
      }
    },
  });
}
