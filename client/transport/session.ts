/**
 * The one owner of what both transports share: the connection state shown
 * to the UI, and the running answers with their explicit {@link AnswerPhase},
 * de-duplication by `seq`, local cancel, interruption (the server cannot
 * resume) and the resume deadline. Transports are pipes that feed it frames
 * and tell it when the connection drops or comes back.
 * @module
 */
import { ErrorCode } from "../../protocol/codes.ts";
import type { ServerFrame } from "../../protocol/frames.ts";
import { backoffDelay, type BackoffOptions } from "../backoff.ts";
import {
  type AnswerHandlers,
  type ConnectionState,
  defaultTimers,
  INTERRUPTED_MESSAGE,
  LOST_MESSAGE,
  RESUME_TIMEOUT_MS,
  type Timers,
} from "./types.ts";

/**
 * Drops frames already delivered: a resumed stream may overlap what came
 * before the drop. Frames without a `seq` always pass.
 */
export class SeqGate {
  /** Highest `seq` let through; -1 before the first. */
  last = -1;

  /** True when `frame` is new (and records its `seq`), false for a repeat. */
  admit(frame: ServerFrame): boolean {
    if (!("seq" in frame) || typeof frame.seq !== "number") return true;
    if (frame.seq <= this.last) return false;
    this.last = frame.seq;
    return true;
  }
}

/**
 * Where a running answer stands.
 * - `queued`: the question is not on the wire yet (it goes when a connection opens)
 * - `streaming`: asked; frames flow
 * - `suspended`: the connection dropped after the question went out; the
 *   resume deadline runs
 * - `resumed`: a new connection took the answer up again (a `not_found`
 *   now means the server lost it: the answer was interrupted)
 */
export type AnswerPhase = "queued" | "streaming" | "suspended" | "resumed";

/** Why an answer left the book: its last frame, a local cancel, or a lost connection. */
export type SettleReason = "final" | "cancel" | "lost";

/** One running answer. */
export interface Answer {
  readonly requestId: string;
  readonly handlers: AnswerHandlers;
  phase: AnswerPhase;
  /** The frames already delivered, by `seq`. */
  readonly seq: SeqGate;
  /** The query frame, while `queued` (WebSocket). */
  query?: string;
  /** Called once when the answer leaves the book. */
  onSettle?: (reason: SettleReason) => void;
  /** Ends the answer as lost when it is not resumed in time. */
  deadline?: unknown;
}

/** Options for {@link Answers}. */
export interface AnswersOptions {
  timers: Timers;
  /** How long a `suspended` answer may wait to resume, in ms. */
  resumeTimeoutMs: number;
}

const isFinal = (frame: ServerFrame) => frame.type === "done" || frame.type === "error";

/** The running answers of one transport. */
export class Answers {
  #answers = new Map<string, Answer>();
  #timers: Timers;
  #resumeMs: number;

  /** Creates an empty book. */
  constructor(options: AnswersOptions) {
    this.#timers = options.timers;
    this.#resumeMs = options.resumeTimeoutMs;
  }

  /** Number of running answers. */
  get size(): number {
    return this.#answers.size;
  }

  /** The running answer of `requestId`, if any. */
  get(requestId: string): Answer | undefined {
    return this.#answers.get(requestId);
  }

  /** Every running answer, oldest first. */
  all(): Answer[] {
    return [...this.#answers.values()];
  }

  /** Starts tracking an answer. */
  open(
    requestId: string,
    handlers: AnswerHandlers,
    init: Pick<Answer, "phase" | "query" | "onSettle">,
  ): Answer {
    const answer: Answer = { requestId, handlers, seq: new SeqGate(), ...init };
    this.#answers.set(requestId, answer);
    return answer;
  }

  /**
   * Hands a frame that passed {@link SeqGate.admit} to the answer: a final
   * frame settles it, and a `not_found` after a drop ends it as interrupted.
   */
  settle(answer: Answer, frame: ServerFrame): void {
    const dropped = answer.phase === "suspended" || answer.phase === "resumed";
    if (isFinal(frame)) this.#forget(answer, "final");
    if (frame.type === "error" && frame.code === ErrorCode.NotFound && dropped) {
      answer.handlers.lost(INTERRUPTED_MESSAGE);
      return;
    }
    answer.handlers.frame(frame);
  }

  /** Delivers a frame: drops a repeat, else {@link settle}s it. */
  deliver(answer: Answer, frame: ServerFrame): void {
    if (answer.seq.admit(frame)) this.settle(answer, frame);
  }

  /** Ends the answer here with a `done` (cancelled) frame after the last one delivered. */
  cancel(answer: Answer): void {
    if (!this.#forget(answer, "cancel")) return;
    answer.handlers.frame({
      type: "done",
      finish_reason: "cancelled",
      cancelled: true,
      request_id: answer.requestId,
      seq: answer.seq.last + 1,
    });
  }

  /** Ends the answer as lost with `message`. */
  lose(answer: Answer, message: string): void {
    if (this.#forget(answer, "lost")) answer.handlers.lost(message);
  }

  /**
   * The connection dropped mid-answer: the answer waits to be resumed and
   * ends as lost (then `onExpire` runs) when it is not within the deadline.
   * An answer already suspended keeps its deadline.
   */
  suspend(answer: Answer, onExpire?: () => void): void {
    if (answer.phase === "suspended") return;
    answer.phase = "suspended";
    answer.deadline = this.#timers.setTimeout(() => {
      answer.deadline = undefined;
      if (this.#answers.get(answer.requestId) !== answer || answer.phase !== "suspended") return;
      this.lose(answer, LOST_MESSAGE);
      onExpire?.();
    }, this.#resumeMs);
  }

  /** A new connection took up a suspended answer: the deadline stops. */
  resume(answer: Answer): void {
    this.#clearDeadline(answer);
    if (answer.phase === "suspended") answer.phase = "resumed";
  }

  /** Ends every answer as lost with `message`. */
  loseAll(message: string): void {
    for (const answer of this.all()) this.lose(answer, message);
  }

  #clearDeadline(answer: Answer): void {
    if (answer.deadline !== undefined) this.#timers.clearTimeout(answer.deadline);
    answer.deadline = undefined;
  }

  #forget(answer: Answer, reason: SettleReason): boolean {
    if (this.#answers.get(answer.requestId) !== answer) return false;
    this.#answers.delete(answer.requestId);
    this.#clearDeadline(answer);
    answer.onSettle?.(reason);
    return true;
  }
}

/** What both transports are configured with. */
export interface SessionOptions {
  backoff?: BackoffOptions;
  timers?: Timers;
  /**
   * How long an answer cut off by a drop may wait to resume before it ends
   * as lost, in ms. Default 20 000 (the server keeps a dropped answer
   * running for 15 s).
   */
  resumeTimeoutMs?: number;
  /**
   * Turns a URL into the one a new connection uses (with a fresh
   * `?ticket=` when signed in, see `client/auth.ts`); none: used as is.
   */
  authorize?: (url: string) => Promise<string>;
}

/**
 * The base of both transports: the connection state with its listeners,
 * the reconnect backoff, and the book of running {@link Answers}.
 */
export class TransportSession {
  /** The running answers. */
  protected readonly answers: Answers;
  /** The timers everything here runs on. */
  protected readonly timers: Timers;
  /** {@link SessionOptions.authorize}. */
  protected readonly authorize: ((url: string) => Promise<string>) | undefined;
  #state: ConnectionState;
  #listeners = new Set<(state: ConnectionState) => void>();
  #backoff: BackoffOptions;
  #attempt = 0;

  /** Starts in `initial`. */
  constructor(initial: ConnectionState, options: SessionOptions) {
    this.#state = initial;
    this.#backoff = options.backoff ?? {};
    this.timers = options.timers ?? defaultTimers;
    this.authorize = options.authorize;
    this.answers = new Answers({
      timers: this.timers,
      resumeTimeoutMs: options.resumeTimeoutMs ?? RESUME_TIMEOUT_MS,
    });
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Number of reconnect attempts since the last successful connection. */
  get attempt(): number {
    return this.#attempt;
  }

  /** Calls `listener` on every state change; returns an unsubscribe function. */
  subscribe(listener: (state: ConnectionState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Moves to `state`, telling the listeners when it changed. */
  protected setState(state: ConnectionState): void {
    if (state === this.#state) return;
    this.#state = state;
    for (const listener of this.#listeners) listener(state);
  }

  /** Counts a reconnect attempt; returns how long to wait before it, in ms. */
  protected nextDelay(): number {
    return backoffDelay(this.#attempt++, this.#backoff);
  }

  /** A connection succeeded: the backoff starts over. */
  protected connected(): void {
    this.#attempt = 0;
  }
}
