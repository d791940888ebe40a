/**
 * The benchmark agent: exactly `chunks` text deltas of `chunkBytes`
 * characters, `intervalMs` apart (0 = back to back). Each delta carries
 * the epoch-ms time it was produced, for one-way latency measurements.
 * @module
 */
import { delay } from "../delay.ts";
import type { Agent, AgentEvent, AgentRequest, StreamOptions } from "./types.ts";

/** Settings of the synthetic agent (`SYNTHETIC_*` variables). */
export interface SyntheticOptions {
  chunks: number;
  chunkBytes: number;
  intervalMs: number;
}

/** Yields to the event loop this often in a burst, so cancels get through. */
const BURST_YIELD_EVERY = 1024;

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
    ): AsyncIterable<AgentEvent> {
      for (let i = 0; i < options.chunks; i++) {
        if (options.intervalMs > 0 && i > 0) {
          if (!await delay(options.intervalMs, signal)) return;
        } else if (i % BURST_YIELD_EVERY === BURST_YIELD_EVERY - 1) {
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        if (signal.aborted) return;
        yield {
          type: "text-delta",
          delta: chunk,
          ts: origin + performance.now(),
        };
      }
    },
  };
}
