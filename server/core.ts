/**
 * The transport-agnostic chat core: loads history, runs the agent with an
 * `AbortSignal`, hands every event to the transport, persists the turn.
 * @module
 */
import { ErrorCode, type FinishReason } from "../protocol/codes.ts";
import type { Agent, AgentEvent, Turn } from "./agents/types.ts";
import type { Logger } from "./log.ts";
import type { SessionStore } from "./store/types.ts";

/** What the core hands to a transport, in order, for one answer. */
export type CoreEvent =
  | { type: "start"; requestId: string; sessionId: string }
  | AgentEvent
  | { type: "finish"; reason: FinishReason }
  | { type: "error"; code: ErrorCode; message: string };

/** A validated question. */
export interface TurnRequest {
  query: string;
  /** Omitted: a fresh session id is created. */
  sessionId?: string;
  /** Omitted: a fresh request id is created. */
  requestId?: string;
}

/** How the core talks back to a transport. */
export interface TurnOptions {
  /** Aborts the agent (client cancel or disconnect). */
  signal: AbortSignal;
  /**
   * Receives each event. Returning a promise pauses the agent until it
   * settles (backpressure); returning nothing keeps the hot path sync.
   */
  emit(event: CoreEvent): void | Promise<void>;
}

/** The longest answer kept in one stored turn (KV values max out at 64 KiB). */
const MAX_STORED_ANSWER = 12_000;

/** Creates a random id matching the protocol's id pattern. */
export function newId(): string {
  return crypto.randomUUID();
}

/** Runs turns; shared by every transport. */
export class ChatCore {
  #agent: Agent;
  #store: SessionStore;
  #log: Logger;

  /** Creates the core over an agent and a session store. */
  constructor(
    deps: { agent: Agent; store: SessionStore; log: Logger },
  ) {
    this.#agent = deps.agent;
    this.#store = deps.store;
    this.#log = deps.log;
  }

  /** The session store, for transports that read history. */
  get store(): SessionStore {
    return this.#store;
  }

  /**
   * Runs one turn to its end. Never throws: failures become an `error`
   * event, cancellation a `finish` with reason `cancelled`. The turn is
   * persisted (partial when cancelled) before the final event.
   */
  async run(request: TurnRequest, options: TurnOptions): Promise<void> {
    const { signal, emit } = options;
    const sessionId = request.sessionId ?? newId();
    const requestId = request.requestId ?? newId();
    let answer = "";
    const tools: string[] = [];
    let reason: FinishReason = "stop";
    let failure: CoreEvent | undefined;
    try {
      await emit({ type: "start", requestId, sessionId });
      const history = await this.#store.load(sessionId);
      const events = this.#agent.stream(
        { query: request.query, sessionId, history },
        { signal },
      );
      for await (const event of events) {
        if (signal.aborted) break;
        if (event.type === "text-delta") answer += event.delta;
        else if (event.type === "tool-call") tools.push(event.toolName);
        const pending = emit(event);
        if (pending) await pending;
      }
      if (signal.aborted) reason = "cancelled";
    } catch (error) {
      if (signal.aborted) {
        reason = "cancelled";
      } else {
        reason = "error";
        this.#log.error("Agent failed", { requestId, sessionId, error });
        failure = {
          type: "error",
          code: ErrorCode.AgentError,
          message: "The agent failed to answer; please try again",
        };
      }
    }
    await this.#persist(sessionId, {
      query: request.query,
      answer: answer.slice(0, MAX_STORED_ANSWER),
      finishReason: reason,
      tools,
      at: Date.now(),
    });
    try {
      await emit(failure ?? { type: "finish", reason });
    } catch {
      // The transport is gone; nothing is left to tell.
    }
  }

  async #persist(sessionId: string, turn: Turn): Promise<void> {
    try {
      await this.#store.append(sessionId, turn);
    } catch (error) {
      this.#log.error("Cannot persist turn", { sessionId, error });
    }
  }
}
