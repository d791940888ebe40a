/**
 * The benchmark agent: exactly `chunks` text deltas of `chunkBytes`
 * characters, `intervalMs` apart (0 = back to back). Each delta carries
 * the epoch-ms time it was produced, for one-way latency measurements.
 * @module
 */
import { delay } from "../delay.ts";
import type { Agent, AgentEvent, AgentRequest, AgentYield, StreamOptions } from "./types.ts";

/** Settings of the synthetic agent (`SYNTHETIC_*` variables). */
export interface SyntheticOptions {
  chunks: number;
  chunkBytes: number;
  intervalMs: number;
}

/** Yields to the event loop this often in a burst, so cancels get through. */
const BURST_YIELD_EVERY = 1024;

/** Chunks of a burst handed over at once (after the first, which goes alone). */
const BURST_BATCH = 64;

/** Creates the synthetic agent. */
export function createSyntheticAgent(options: SyntheticOptions): Agent {
  const chunk = "x".repeat(options.chunkBytes);
  const origin = performance.timeOrigin;
  return {
    name: "synthetic",
    // It answers the same whatever was said before: no history load.
    readsHistory: false,
    async *stream(
      _request: AgentRequest,
      { signal }: StreamOptions,
    ): AsyncIterable<AgentYield> {
      const delta = (): AgentEvent => ({
        type: "text-delta",
        delta: chunk,
        ts: origin + performance.now(),
      });
      if (options.intervalMs > 0) {
        for (let i = 0; i < options.chunks; i++) {
          if (i > 0 && !await delay(options.intervalMs, signal)) return;
          if (signal.aborted) return;
          yield delta();
        }
        return;
      }
      // A burst: every chunk is ready at once, handed over in batches; the
      // first goes alone (it is what the user waits for).
      for (let i = 0; i < options.chunks;) {
        if (signal.aborted) return;
        const size = i === 0 ? 1 : Math.min(BURST_BATCH, options.chunks - i);
        const batch: AgentEvent[] = [];
        for (const end = i + size; i < end; i++) batch.push(delta());
        yield batch;
        if (i % BURST_YIELD_EVERY < size && i < options.chunks) {
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    },
  };
}
