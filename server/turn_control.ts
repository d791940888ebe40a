/**
 * How one turn is stopped ({@link TurnControl}): by its owner (a cancel, a
 * disconnect) or by the core itself (the agent went quiet, a `TurnStop`).
 * @module
 */

/**
 * Stops one turn. The agent sees the stop on {@link signal}; the core is
 * told by a plain callback, not an event listener on the signal, and the
 * owner and the core share one controller: a turn's start is on the way
 * to its first chunk, and every piece of code run there costs most after
 * the server sat idle.
 */
export class TurnControl {
  readonly #controller = new AbortController();
  #onStop: (() => void) | undefined;

  /** Aborted once the turn is stopped, with the first stop's reason. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once the turn was stopped. */
  get stopped(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Stops the turn; the first reason given is the one kept. */
  stop(reason?: unknown): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
    this.#onStop?.();
  }

  /** Calls `onStop` when the turn is stopped (at once if it already is). The core's one waiter. */
  onStop(onStop: () => void): void {
    this.#onStop = onStop;
    if (this.stopped) onStop();
  }
}
