/**
 * The transport-agnostic chat core: loads history, runs the agent with an
 * `AbortSignal`, hands every event to the transport, persists the turn.
 * @module
 */
import type { TurnControl } from "./turn_control.ts";
import { ErrorCode, type FinishReason } from "../protocol/codes.ts";
import { type Agent, type AgentEvent, type Attachment, eventsOf } from "./agents/types.ts";
import { within } from "./delay.ts";
import { type Ticking, Ticks } from "./shared_timers.ts";
import type { Logger } from "./log.ts";
import type { SessionStore, Turn, UploadStore } from "./store/types.ts";

/** What the core hands to a transport, in order, for one answer. */
export type CoreEvent =
  | { type: "start"; requestId: string; sessionId: string }
  | AgentEvent
  | { type: "finish"; reason: FinishReason }
  | { type: "error"; code: ErrorCode; message: string };

/**
 * An abort reason that ends the turn with an `error` frame of its own code
 * instead of `done` with `cancelled` (timeout, shutdown, slow consumer).
 */
export class TurnStop {
  /** The error code sent to the client. */
  readonly code: ErrorCode;
  /** The message sent to the client. */
  readonly message: string;
  /** Creates a stop reason. */
  constructor(code: ErrorCode, message: string) {
    this.code = code;
    this.message = message;
  }
}

/** A validated question. */
export interface TurnRequest {
  query: string;
  /** Omitted: a fresh session id is created. */
  sessionId?: string;
  /** Omitted: a fresh request id is created. */
  requestId?: string;
  /** Uploaded files the question refers to. */
  attachments?: readonly Attachment[];
  /**
   * Regenerate: answer the session's last question again, replacing its
   * turn (`query` is ignored).
   */
  regenerate?: boolean;
  /**
   * Edit-and-resend: keep only the first `keepTurns` turns of the history
   * (the later ones are deleted from the store), then answer `query`.
   */
  keepTurns?: number;
  /**
   * Whose list of chats the session joins when its first turn is saved
   * (the identity, or the browser's owner cookie).
   */
  owner?: string;
}

/** How the core talks back to a transport. */
export interface TurnOptions {
  /**
   * Stops the turn: its owner stops it (client cancel or disconnect), and
   * so does the core (agent timeout, a {@link TurnStop}); the agent gets
   * its signal.
   */
  control: TurnControl;
  /**
   * Receives each event. Returning a promise pauses the agent until it
   * settles (backpressure); returning nothing keeps the hot path sync.
   */
  emit(event: CoreEvent): void | Promise<void>;
  /**
   * The authenticated identity asking; when set, the session must belong
   * to it (or be new, and then it becomes its owner), else the turn ends
   * with a `forbidden` error and nothing of the session is read or written.
   */
  identity?: string;
  /** Told when the agent is called and when its stream is over (the answer's trace). */
  trace?: AgentTrace;
  /**
   * Called once the session may be used: it is the identity's (claimed),
   * or authentication is off. Not called for a refused turn.
   */
  onOwned?: () => void;
}

/** What the core tells an answer's trace about the agent call. */
export interface AgentTrace {
  /** The agent is called. */
  agentStarted(): void;
  /** The agent's stream ended, failed or was abandoned. */
  agentEnded(): void;
}

/** The longest answer kept in one stored turn (KV values max out at 64 KiB). */
const MAX_STORED_ANSWER = 12_000;

/** Most tool calls one turn may make; the next one ends the turn with `too_many_tool_calls`. */
export const MAX_TOOL_CALLS_PER_TURN = 32;

/** The stop reason of a turn whose agent made more than `limit` tool calls (`scope`: "turn" or "step"). */
export function toolLimitStop(limit: number, scope: "turn" | "step"): TurnStop {
  return new TurnStop(
    ErrorCode.TooManyToolCalls,
    `Cannot answer: the agent made more than ${limit} tool calls in one ${scope}`,
  );
}

/** True for the event that ends an answer (`finish` or `error`). */
export function isFinal(event: CoreEvent): boolean {
  return event.type === "finish" || event.type === "error";
}

/** Creates a random id matching the protocol's id pattern. */
export function newId(): string {
  return crypto.randomUUID();
}

/** What a running turn has gathered so far. */
interface TurnState {
  sessionId: string;
  requestId: string;
  /** The question answered (the last turn's, for a regenerate). */
  query: string;
  /** The answer text sent so far. */
  answer: string;
  /** Names of the tools called. */
  tools: string[];
  reason: FinishReason;
  /** The error event that ends the turn instead of `finish`. */
  failure?: CoreEvent;
  /** False when nothing of the session may be written (not the caller's). */
  persist: boolean;
  /** True when the session had no history: its first turn names it in the owner's list. */
  first?: boolean;
}

/** Ticks of the watchdogs per agent timeout: a quiet turn ends 1 to 1.25 timeouts after its last event. */
const WATCHDOG_TICKS = 4;

/**
 * The agent-timeout watchdog of one turn. No per-chunk timers: the pump
 * counts progress and the core's one ticker compares, for every turn.
 */
class Watchdog implements Ticking {
  /** Bumped on every sign of life from the agent. */
  progress = 0;
  /** True while the client slows the turn down (backpressure does not count). */
  paused = false;
  #seen = -1;
  #quietTicks = 0;
  #onQuiet: () => void;

  /** `onQuiet` is called on the tick that finds the turn quiet for the whole timeout. */
  constructor(onQuiet: () => void) {
    this.#onQuiet = onQuiet;
  }

  tick(): void {
    if (this.paused || this.progress !== this.#seen) {
      this.#seen = this.progress;
      this.#quietTicks = 0;
    } else if (++this.#quietTicks >= WATCHDOG_TICKS) this.#onQuiet();
  }
}

/** Options of {@link ChatCore}. */
export interface ChatCoreDeps {
  agent: Agent;
  store: SessionStore;
  log: Logger;
  /**
   * Ends a turn whose agent sent nothing for this long (0 = never). Time
   * spent waiting for a slow client (backpressure) does not count.
   */
  agentTimeoutMs?: number;
  /** Where the uploads of chats evicted over an owner's cap are deleted. */
  uploads?: UploadStore;
  /**
   * Longest a store call of a turn may take (default 10 s): a store that
   * stops answering ends the turn with `unavailable` before the agent
   * starts, and after it the turn ends without its history write.
   */
  storeTimeoutMs?: number;
}

/** The session store failed before the agent started. */
class StoreUnavailable extends Error {
  constructor(cause: unknown) {
    super("Cannot answer: the session store is unreachable; try again shortly", { cause });
  }
}

/** Runs turns; shared by every transport. */
export class ChatCore {
  #agent: Agent;
  #store: SessionStore;
  #uploads: UploadStore | undefined;
  #log: Logger;
  #timeoutMs: number;
  /** The watchdogs of the running turns (none without an agent timeout). */
  #watchdogs: Ticks | undefined;
  #storeTimeoutMs: number;

  /** Creates the core over an agent and a session store. */
  constructor(deps: ChatCoreDeps) {
    this.#agent = deps.agent;
    this.#store = deps.store;
    this.#uploads = deps.uploads;
    this.#log = deps.log;
    this.#timeoutMs = deps.agentTimeoutMs ?? 0;
    if (this.#timeoutMs > 0) {
      this.#watchdogs = new Ticks(Math.max(10, this.#timeoutMs / WATCHDOG_TICKS));
    }
    this.#storeTimeoutMs = deps.storeTimeoutMs ?? 10_000;
  }

  /** The agent's name (for traces and logs). */
  get agentName(): string {
    return this.#agent.name;
  }

  /**
   * Runs one turn to its end. Never throws: failures become an `error`
   * event, cancellation a `finish` with reason `cancelled`, an abort with a
   * {@link TurnStop} reason an `error` with its code. The turn is persisted
   * (partial when cancelled or stopped) before the final event. An agent
   * that ignores its signal is abandoned: no event of it is sent after the
   * abort. An agent may throw a {@link TurnStop} to end the turn with its
   * code (a tool call limit).
   */
  async run(request: TurnRequest, options: TurnOptions): Promise<void> {
    const turn: TurnState = {
      sessionId: request.sessionId ?? newId(),
      requestId: request.requestId ?? newId(),
      query: request.query,
      answer: "",
      tools: [],
      reason: "stop",
      persist: true,
    };
    const { sessionId, requestId } = turn;
    // The wait for the agent ends when the pump does or the turn is stopped
    // (by its owner or here), so a hung agent cannot hold the turn.
    const { control } = options;
    const signal = control.signal;
    const over = Promise.withResolvers<void>();
    control.onStop(over.resolve);
    const watchdog = new Watchdog(() =>
      control.stop(
        new TurnStop(
          ErrorCode.Timeout,
          `The agent sent nothing for ${this.#timeoutMs / 1000} s; please try again`,
        ),
      )
    );
    this.#watchdogs?.add(watchdog);
    // A pump that fails after the turn was stopped settles nothing any more.
    this.#pump(request, turn, options, watchdog).then(over.resolve, over.reject);
    try {
      await over.promise;
    } catch (error) {
      if (error instanceof TurnStop) control.stop(error);
      else if (error instanceof StoreUnavailable && !signal.aborted) {
        turn.reason = "error";
        turn.persist = false;
        const cause = error.cause;
        this.#log.error("Session store unreachable", {
          request_id: requestId,
          session_id: sessionId,
          error: cause,
        });
        turn.failure = { type: "error", code: ErrorCode.Unavailable, message: error.message };
      } else if (!signal.aborted) {
        turn.reason = "error";
        this.#log.error("Agent failed", { request_id: requestId, session_id: sessionId, error });
        turn.failure = {
          type: "error",
          code: ErrorCode.AgentError,
          message: "The agent failed to answer; please try again",
        };
      }
    } finally {
      this.#watchdogs?.delete(watchdog);
      options.trace?.agentEnded();
    }
    // The pump may still be stuck in a hung agent; it sends nothing more.
    if (signal.aborted) this.#stopped(turn, signal.reason);
    if (turn.persist) {
      const stored = this.#persist(sessionId, {
        query: turn.query,
        answer: turn.answer.slice(0, MAX_STORED_ANSWER),
        finishReason: turn.reason,
        tools: turn.tools,
        at: Date.now(),
      });
      // Both at once: on KV the chat entry's write joins the turn's group commit.
      await Promise.all([stored, request.owner && this.#list(request.owner, turn)]);
    }
    try {
      await options.emit(turn.failure ?? { type: "finish", reason: turn.reason });
    } catch {
      // The transport is gone; nothing is left to tell.
    }
  }

  /** Claims the session, loads its history and streams the agent's events to `emit`. */
  async #pump(
    request: TurnRequest,
    turn: TurnState,
    options: TurnOptions,
    watchdog: Watchdog,
  ): Promise<void> {
    const { emit } = options;
    const signal = options.control.signal;
    const { sessionId, requestId } = turn;
    await emit({ type: "start", requestId, sessionId });
    if (options.identity !== undefined) {
      const identity = options.identity;
      const owned = await this.#storeCall(() => this.#store.claim!(sessionId, identity));
      if (!owned) {
        turn.persist = false;
        turn.failure = {
          type: "error",
          code: ErrorCode.Forbidden,
          message: `Cannot use session "${sessionId}": it belongs to another identity`,
        };
        return;
      }
    }
    options.onOwned?.();
    watchdog.progress++;
    const history = this.#readsHistory(request) ? await this.#history(request, turn) : [];
    if (!history || signal.aborted) return;
    options.trace?.agentStarted();
    const events = this.#agent.stream(
      { query: turn.query, sessionId, history, attachments: request.attachments },
      { signal },
    );
    for await (const ready of events) {
      // A batch (events that were ready together) is sent on without an await between its events.
      const batch = eventsOf(ready);
      for (let i = 0; i < batch.length; i++) {
        const event = batch[i];
        if (signal.aborted) return;
        watchdog.progress++;
        const pending = this.#forward(event, turn, emit);
        if (pending) {
          watchdog.paused = true;
          await pending;
          watchdog.paused = false;
        }
      }
    }
  }

  /** Adds one agent event to the turn and hands it to `emit`. */
  #forward(event: AgentEvent, turn: TurnState, emit: TurnOptions["emit"]): void | Promise<void> {
    if (event.type === "text-delta") {
      // Only what is stored is kept: a long answer holds no rope of every chunk.
      if (turn.answer.length < MAX_STORED_ANSWER) turn.answer += event.delta;
    } else if (event.type === "tool-call") {
      if (turn.tools.length >= MAX_TOOL_CALLS_PER_TURN) {
        throw toolLimitStop(MAX_TOOL_CALLS_PER_TURN, "turn");
      }
      turn.tools.push(event.toolName);
    }
    return emit(event);
  }

  /**
   * Whether the turn loads the session's history: a store round trip
   * before the first chunk, skipped for an agent that never reads it,
   * unless the turn edits the history.
   */
  #readsHistory(request: TurnRequest): boolean {
    return this.#agent.readsHistory !== false || request.regenerate === true ||
      request.keepTurns !== undefined;
  }

  /**
   * The history the agent sees. A regenerate or an edit first cuts the
   * session's history back (in the store too: only the new branch is kept).
   * Undefined, with the turn's failure set, when there is nothing to regenerate.
   */
  async #history(request: TurnRequest, turn: TurnState): Promise<Turn[] | undefined> {
    const history = await this.#storeCall(() => this.#store.load(turn.sessionId));
    const keep = request.regenerate ? history.length - 1 : request.keepTurns;
    turn.first = (keep ?? history.length) === 0;
    if (keep === undefined) return history;
    if (keep < 0) {
      turn.persist = false;
      turn.failure = {
        type: "error",
        code: ErrorCode.NotFound,
        message: `Cannot regenerate: session "${turn.sessionId}" has no answer yet`,
      };
      return undefined;
    }
    if (request.regenerate) turn.query = history[keep].query;
    if (keep < history.length) {
      await this.#storeCall(() => this.#store.truncate(turn.sessionId, keep));
    }
    return history.slice(0, keep);
  }

  /** How an aborted turn ends: a {@link TurnStop}'s error, else `cancelled`. */
  #stopped(turn: TurnState, stop: unknown): void {
    if (!(stop instanceof TurnStop)) {
      turn.reason = "cancelled";
      return;
    }
    turn.reason = "error";
    turn.failure = { type: "error", code: stop.code, message: stop.message };
    if (stop.code === ErrorCode.TooManyToolCalls) {
      this.#log.error("Agent exceeded the tool call limit", {
        request_id: turn.requestId,
        session_id: turn.sessionId,
        message: stop.message,
      });
    } else if (stop.code === ErrorCode.Timeout) {
      this.#log.error("Agent timed out", {
        request_id: turn.requestId,
        session_id: turn.sessionId,
      });
    }
  }

  /** Keeps a turn whose producing instance died (see the stream hub). */
  record(sessionId: string, turn: Turn): Promise<void> {
    return this.#persist(sessionId, turn);
  }

  /**
   * Runs a store call before the agent starts, turning its failure, or no
   * answer within the store timeout, into {@link StoreUnavailable}.
   */
  async #storeCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await within(call(), this.#storeTimeoutMs, "reach the session store");
    } catch (error) {
      throw new StoreUnavailable(error);
    }
  }

  /**
   * Lists a new chat for its owner, titled by its first question (evicting
   * the owner's least recently used chats over the cap, uploads too), or
   * marks a listed one as used.
   */
  async #list(owner: string, turn: TurnState): Promise<void> {
    try {
      await within(this.#listChat(owner, turn), this.#storeTimeoutMs, "list the chat");
    } catch (error) {
      this.#log.error("Cannot list chat", { sessionId: turn.sessionId, error });
    }
  }

  async #listChat(owner: string, turn: TurnState): Promise<void> {
    const entry = { sessionId: turn.sessionId, title: turn.query.slice(0, 80), at: Date.now() };
    if (!turn.first) return await this.#store.touchChat(owner, turn.sessionId);
    for (const evicted of await this.#store.saveChat(owner, entry)) {
      await this.#uploads?.deleteSession(evicted);
    }
  }

  async #persist(sessionId: string, turn: Turn): Promise<void> {
    try {
      await within(this.#store.append(sessionId, turn), this.#storeTimeoutMs, "persist the turn");
    } catch (error) {
      this.#log.error("Cannot persist turn", { session_id: sessionId, error });
    }
  }
}
