/**
 * Picks the agent named by `AGENT`.
 * @module
 */
import type { Config } from "../config.ts";
import type { DocsSearch } from "../tools/docs_search.ts";
import { createDemoAgent } from "./demo.ts";
import { createSyntheticAgent } from "./synthetic.ts";
import type { Agent } from "./types.ts";

export type { Agent, AgentEvent, AgentRequest, Attachment, StreamOptions, Turn } from "./types.ts";

/**
 * Creates the agent the configuration asks for. The OpenAI agent's module
 * (with the AI SDK, the largest of the server's) is loaded only for it.
 */
export async function createAgent(config: Config, docs: DocsSearch): Promise<Agent> {
  switch (config.AGENT) {
    case "demo":
      return createDemoAgent({ delayMs: config.DEMO_DELAY_MS, docs });
    case "synthetic":
      return createSyntheticAgent({
        chunks: config.SYNTHETIC_CHUNKS,
        chunkBytes: config.SYNTHETIC_CHUNK_BYTES,
        intervalMs: config.SYNTHETIC_INTERVAL_MS,
      });
    case "openai": {
      const { createOpenAiAgent } = await import("./openai.ts");
      return createOpenAiAgent({
        baseUrl: config.OPENAI_BASE_URL ?? "https://api.openai.com/v1",
        apiKey: config.OPENAI_API_KEY,
        model: config.OPENAI_MODEL!,
        docs,
      });
    }
  }
}
