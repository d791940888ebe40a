/**
 * WebSocket backpressure against a server started as a separate process,
 * once per runtime: each runtime has its own write path (Deno's WebSocket,
 * Bun's ServerWebSocket with its outbox rounds written inside `cork`), and
 * on each a reader that stops reading pauses the answer and is closed 4008.
 * A high-water mark above Bun's own backpressure limit (16 MiB, past which
 * its sends drop frames) still pauses the answer, and no frame is missing.
 */
import { assertEquals, assertLess, assertStringIncludes } from "@std/assert";
import { CloseCode } from "../protocol/codes.ts";
import { Opcode, RawWs } from "./helpers/raw_ws.ts";
import { type Runtime, RUNTIMES, warnIfNoBun } from "./helpers/runtimes.ts";
import { spawnServer } from "./helpers/spawn_server.ts";

warnIfNoBun();

/** Chunks of the answer: 64 MiB in all, far more than the socket buffers take. */
const CHUNKS = 4096;

/** How long the reader stays stalled: several times the stall limit below. */
const STALLED_MS = 6_000;

/**
 * Reads up to the server's close frame (its code and reason), or up to the
 * answer's own last frame (`done`: the answer was never paused) or the end
 * of the stream (code `null`), so a broken pause fails instead of waiting.
 */
async function readToEnd(
  peer: RawWs,
): Promise<{ code: number | null; reason: string; frames: number; seqs: number[] }> {
  let frames = 0;
  const seqs: number[] = [];
  while (true) {
    const frame = await peer.next();
    if (!frame) return { code: null, reason: "end of stream", frames, seqs };
    frames++;
    const text = new TextDecoder().decode(frame.payload);
    if (frame.opcode === Opcode.Close) {
      const code = (frame.payload[0] << 8) | frame.payload[1];
      return { code, reason: text.slice(2), frames, seqs };
    }
    if (frame.opcode !== Opcode.Text) continue;
    const parsed = JSON.parse(text);
    seqs.push(parsed.seq);
    if (parsed.type === "done") {
      return { code: null, reason: "the answer ended: it was never paused", frames, seqs };
    }
  }
}

/**
 * Starts a server on `runtime` with `highWaterBytes`, asks for the whole
 * answer, stops reading for {@link STALLED_MS}, then reads to the end.
 */
async function stalledAnswer(runtime: Runtime, highWaterBytes: number) {
  const server = await spawnServer(runtime, {
    AGENT: "synthetic",
    SYNTHETIC_CHUNKS: String(CHUNKS),
    SYNTHETIC_CHUNK_BYTES: String(16 * 1024),
    SYNTHETIC_INTERVAL_MS: "0",
    WS_HIGH_WATER_BYTES: String(highWaterBytes),
    STALL_TIMEOUT_MS: "2000",
  });
  const peer = await RawWs.connect(server.wsUrl);
  try {
    await peer.sendText(JSON.stringify({ query: "everything" }));
    // Not reading: the kernel buffers fill, then the server's buffered amount grows.
    await new Promise((resolve) => setTimeout(resolve, STALLED_MS));
    const close = await readToEnd(peer);
    console.log(`${runtime}: ${close.frames} frames before close ${close.code}`);
    return close;
  } finally {
    peer.close();
    await server.close();
  }
}

for (const { runtime, ignore } of RUNTIMES) {
  Deno.test({
    name: `[${runtime}] a WebSocket reader that stops reading pauses the answer, then close 4008`,
    ignore,
    async fn() {
      const close = await stalledAnswer(runtime, 1024 * 1024);
      assertEquals(close.code, CloseCode.SlowConsumer);
      assertStringIncludes(close.reason, "Slow consumer");
      // Paused, not drained into the socket: the answer never reached its end.
      assertLess(close.frames, CHUNKS);
    },
  });

  Deno.test({
    name: `[${runtime}] a high-water mark above Bun's backpressure limit: paused, no frame dropped`,
    ignore,
    async fn() {
      // Twice Bun's default limit (16 MiB); the answer is 64 MiB.
      const close = await stalledAnswer(runtime, 32 * 1024 * 1024);
      assertEquals(close.code, CloseCode.SlowConsumer);
      // Every frame up to the close, none missing: the client resumes after the last.
      assertEquals(close.seqs, close.seqs.map((_, i) => i));
      assertLess(close.frames, CHUNKS);
    },
  });
}
