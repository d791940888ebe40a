/**
 * Agents for tests that need to observe what the server does to an agent
 * (abort, calls). They speak the same `Agent` contract as the real ones.
 * @module
 */
import type { Agent, AgentEvent, AgentRequest } from "../../server/agents/types.ts";

/** An agent that streams `first`, then waits until it is aborted. */
export interface HangingAgent extends Agent {
  /** Resolves when the agent saw its signal abort. */
  readonly aborted: Promise<void>;
  /** Requests the agent received. */
  readonly calls: AgentRequest[];
}

/** Creates an agent that sends one chunk and then hangs until aborted. */
export function hangingAgent(first = "thinking..."): HangingAgent {
  const { promise: aborted, resolve } = Promise.withResolvers<void>();
  const calls: AgentRequest[] = [];
  return {
    name: "hanging",
    aborted,
    calls,
    async *stream(request, { signal }): AsyncIterable<AgentEvent> {
      calls.push(request);
      yield { type: "text-delta", delta: first };
      await new Promise<void>((wake) => {
        if (signal.aborted) wake();
        signal.addEventListener("abort", () => wake(), { once: true });
      });
      resolve();
    },
  };
}

/** An agent that answers "echo: <query>" and records its calls. */
export function echoAgent(): Agent & { calls: AgentRequest[] } {
  const calls: AgentRequest[] = [];
  return {
    name: "echo",
    calls,
    async *stream(request): AsyncIterable<AgentEvent> {
      calls.push(request);
      yield { type: "text-delta", delta: "echo: " };
      yield { type: "text-delta", delta: request.query };
    },
  };
}

/** An agent that throws after its first chunk. */
export function failingAgent(): Agent {
  return {
    name: "failing",
    async *stream(): AsyncIterable<AgentEvent> {
      yield { type: "text-delta", delta: "partial" };
      throw new Error("secret upstream detail");
    },
  };
}
