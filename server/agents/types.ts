/**
 * The contract every agent implements.
 * @module
 */
import type { Turn } from "../store/types.ts";

export type { Turn };

/** A file the user uploaded and named in the question. */
export interface Attachment {
  name: string;
  mime: string;
  size: number;
  /** The content of a text file; absent for images and other binary files. */
  text?: string;
}

/** What an agent is asked to answer. */
export interface AgentRequest {
  /** The user's question. */
  query: string;
  /** Files the question refers to (uploaded over the WebSocket). */
  attachments?: readonly Attachment[];
  /** The session the question belongs to. */
  sessionId: string;
  /** Earlier turns of the session, oldest first. */
  history: readonly Turn[];
}

/**
 * What an agent yields, in the vocabulary of the AI SDK's UI message chunks.
 * `ts` on a text delta is an epoch-ms timestamp (only the synthetic agent
 * sets it, for latency benchmarks).
 */
export type AgentEvent =
  | { type: "text-delta"; delta: string; ts?: number }
  | { type: "status"; message: string }
  | { type: "tool-call"; toolCallId: string; toolName: string; input: unknown }
  | {
    type: "tool-result";
    toolCallId: string;
    toolName: string;
    output: unknown;
    isError?: boolean;
  };

/**
 * What an agent's stream yields: one event, or several that were ready at
 * once. A batch is sent on without an asynchronous step per event (each
 * step of an async iterator costs more than sending a small chunk).
 */
export type AgentYield = AgentEvent | readonly AgentEvent[];

/** The events of one {@link AgentYield}, in order. */
export function eventsOf(ready: AgentYield): readonly AgentEvent[] {
  return Array.isArray(ready) ? ready : [ready as AgentEvent];
}

/** Options for {@link Agent.stream}. */
export interface StreamOptions {
  /** Aborted when the client cancels or disconnects. */
  signal: AbortSignal;
}

/** Something that answers questions as a stream of events. */
export interface Agent {
  /** A short name for logs. */
  readonly name: string;
  /**
   * False for an agent that never reads `request.history` (the synthetic
   * benchmark agent): the core then starts it at once with an empty history
   * instead of waiting for a store round trip it would ignore. Default true.
   */
  readonly readsHistory?: boolean;
  /** Streams the answer; must stop promptly once `signal` aborts. */
  stream(
    request: AgentRequest,
    options: StreamOptions,
  ): AsyncIterable<AgentYield>;
}
