/**
 * Hardening, load: N concurrent WebSocket sessions x 200 chunks against the
 * real server. The default run is a smoke version (50 sessions); the full
 * run is outside CI:
 *
 *     LOAD_SESSIONS=500 deno test -A --v8-flags=--expose-gc tests/hardening_load_test.ts
 */
import { assert, assertEquals, assertLess } from "@std/assert";
import { NO_KEY_BUDGETS, startServer } from "./helpers/server.ts";

const SESSIONS = Number(Deno.env.get("LOAD_SESSIONS") ?? "50");
const CHUNKS = 200;
const MiB = 1024 * 1024;

function settle(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  return new Promise((resolve) => setTimeout(resolve, 200));
}

Deno.test(`load: ${SESSIONS} concurrent sessions x ${CHUNKS} chunks, all complete in order, memory back near baseline`, async () => {
  const server = await startServer({
    AGENT: "synthetic",
    SYNTHETIC_CHUNKS: String(CHUNKS),
    SYNTHETIC_CHUNK_BYTES: "32",
    SYNTHETIC_INTERVAL_MS: "5",
    MAX_CONNECTIONS_PER_IP: "0",
    ...NO_KEY_BUDGETS,
  });
  try {
    await settle();
    const baseline = Deno.memoryUsage();
    let peak = baseline.rss;
    const sampler = setInterval(() => {
      peak = Math.max(peak, Deno.memoryUsage().rss);
    }, 50);
    const started = performance.now();
    const results = await Promise.all(
      Array.from(
        { length: SESSIONS },
        (_, i) =>
          new Promise<{ chunks: number; inOrder: boolean; done: boolean }>((resolve, reject) => {
            const ws = new WebSocket(server.wsUrl);
            let chunks = 0;
            let expected = 0;
            let inOrder = true;
            let done = false;
            ws.onopen = () => ws.send(JSON.stringify({ query: "go", session_id: `load-${i}` }));
            ws.onmessage = (event) => {
              const frame = JSON.parse(event.data);
              if (frame.seq !== expected++) inOrder = false;
              if (frame.type === "content") chunks++;
              if (frame.type === "done" || frame.type === "error") {
                done = frame.type === "done" && frame.finish_reason === "stop";
                ws.close();
              }
            };
            ws.onerror = () => reject(new Error(`Session ${i} failed`));
            ws.onclose = () => resolve({ chunks, inOrder, done });
          }),
      ),
    );
    const elapsed = performance.now() - started;
    clearInterval(sampler);
    await settle();
    await settle();
    const after = Deno.memoryUsage();
    const complete = results.filter((r) => r.done && r.chunks === CHUNKS && r.inOrder).length;
    console.log(
      `load: ${SESSIONS} sessions x ${CHUNKS} chunks in ${(elapsed / 1000).toFixed(2)} s; ` +
        `${complete} complete and in order; rss baseline ${(baseline.rss / MiB).toFixed(0)} MiB, ` +
        `peak ${(peak / MiB).toFixed(0)} MiB, after ${(after.rss / MiB).toFixed(0)} MiB; heap ` +
        `${(baseline.heapUsed / MiB).toFixed(0)} -> ${(after.heapUsed / MiB).toFixed(0)} MiB` +
        ((globalThis as { gc?: unknown }).gc ? " (after gc)" : " (no --expose-gc)"),
    );
    assertEquals(complete, SESSIONS);
    assert(results.every((r) => r.chunks === CHUNKS), "no chunk lost");
    // Memory back near baseline: heap growth small next to what N sessions held.
    assertLess(after.heapUsed - baseline.heapUsed, 64 * MiB);
  } finally {
    await server.close();
  }
});
