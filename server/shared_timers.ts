/**
 * Timers shared by many waits of the same length: a {@link DeadlineQueue}
 * (bounds on calls, as `within()` in `delay.ts` sets) and {@link Ticks} (a
 * periodic check of many members, as the agent watchdogs and the SSE
 * heartbeats are). Setting and clearing a runtime timer costs a few
 * microseconds (Deno: about 4 µs a pair, with its `Timeout` object), and
 * every answer bounds its store calls and watches its agent: these share
 * one timer per duration instead, armed only while something waits.
 *
 * A timer holds the process open only while something waits on it: with
 * nothing left it stays set but unref'd (cheaper than clearing it and
 * setting another for the next wait), and it stops once it fires.
 * @module
 */

type Timer = ReturnType<typeof setTimeout>;

/**
 * Makes `timer` hold the process open (`on`) or not. Deno and Bun return a
 * `Timeout` with `ref()`/`unref()`; a numeric id goes through `Deno`.
 */
function hold(timer: Timer, on: boolean): void {
  if (typeof timer === "number") {
    if (on) Deno.refTimer(timer);
    else Deno.unrefTimer(timer);
  } else if (on) (timer as { ref?(): void }).ref?.();
  else (timer as { unref?(): void }).unref?.();
}

/**
 * Calls `each` for every item, even past one that throws; the first error
 * is thrown again once all ran. A shared timer's callbacks are unrelated
 * waits: one that fails must not skip the others (a watchdog, a bound).
 */
function runAll<T>(items: Iterable<T>, each: (item: T) => void): void {
  let failure: { error: unknown } | undefined;
  for (const item of items) {
    try {
      each(item);
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

/** One pending deadline of a {@link DeadlineQueue}. */
export class Deadline {
  /** When it lapses (`performance.now()` time). */
  readonly at: number;
  #queue: DeadlineQueue;
  /** Called once, when the deadline lapses before {@link cancel}. */
  readonly onLapse: () => void;

  constructor(queue: DeadlineQueue, at: number, onLapse: () => void) {
    this.#queue = queue;
    this.at = at;
    this.onLapse = onLapse;
  }

  /** The work finished in time: the deadline no longer lapses. */
  cancel(): void {
    this.#queue.remove(this);
  }
}

/**
 * Deadlines that all lapse `ms` after they are added: added in order, they
 * lapse in order, so the queue is a set in insertion order and one timer,
 * set for the oldest, serves them all. A deadline cancelled before it lapses
 * costs a set insertion and a deletion, no timer.
 */
export class DeadlineQueue {
  static #shared = new Map<number, DeadlineQueue>();

  /** The process's queue of deadlines `ms` long (made by its first use). */
  static of(ms: number): DeadlineQueue {
    let queue = DeadlineQueue.#shared.get(ms);
    if (!queue) DeadlineQueue.#shared.set(ms, queue = new DeadlineQueue(ms));
    return queue;
  }

  /** How long after its addition a deadline lapses. */
  readonly ms: number;
  #pending = new Set<Deadline>();
  #timer: Timer | undefined;

  /** A queue of deadlines `ms` long. */
  constructor(ms: number) {
    this.ms = ms;
  }

  /** Adds a deadline `ms` from now; `onLapse` runs if it is not cancelled by then. */
  add(onLapse: () => void): Deadline {
    const deadline = new Deadline(this, performance.now() + this.ms, onLapse);
    this.#pending.add(deadline);
    if (this.#timer === undefined) this.#timer = setTimeout(this.#lapse, this.ms);
    else if (this.#pending.size === 1) hold(this.#timer, true);
    return deadline;
  }

  /** Removes `deadline` (see {@link Deadline.cancel}); the timer stays set for the next one. */
  remove(deadline: Deadline): void {
    if (!this.#pending.delete(deadline)) return;
    if (this.#pending.size === 0 && this.#timer !== undefined) hold(this.#timer, false);
  }

  /** Runs the deadlines that lapsed, oldest first, then waits for the next one, if any. */
  #lapse = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const due: Deadline[] = [];
    for (const deadline of this.#pending) {
      // A timer may fire a little before the clock says it is due: wait on.
      if (deadline.at > now) {
        this.#timer = setTimeout(this.#lapse, Math.max(1, deadline.at - now));
        break;
      }
      due.push(deadline);
    }
    for (const deadline of due) this.#pending.delete(deadline);
    runAll(due, (deadline) => deadline.onLapse());
  };
}

/** Something {@link Ticks} checks periodically. */
export interface Ticking {
  /** Called once per period while it is a member. */
  tick(): void;
}

/**
 * Calls `tick()` of each member every `periodMs`, on one timer that runs
 * only while there are members. A member's first tick comes at most one
 * period after it joined (the period runs for every member at once).
 */
export class Ticks {
  static #shared = new Map<number, Ticks>();

  /** The process's ticker of period `periodMs` (made by its first use). */
  static every(periodMs: number): Ticks {
    let ticks = Ticks.#shared.get(periodMs);
    if (!ticks) Ticks.#shared.set(periodMs, ticks = new Ticks(periodMs));
    return ticks;
  }

  /** The period. */
  readonly periodMs: number;
  #members = new Set<Ticking>();
  #timer: Timer | undefined;

  /** Ticks every `periodMs`. */
  constructor(periodMs: number) {
    this.periodMs = periodMs;
  }

  /** Starts ticking `member`. */
  add(member: Ticking): void {
    this.#members.add(member);
    if (this.#timer === undefined) this.#timer = setTimeout(this.#tick, this.periodMs);
    else if (this.#members.size === 1) hold(this.#timer, true);
  }

  /** Stops ticking `member`. */
  delete(member: Ticking): void {
    if (!this.#members.delete(member)) return;
    if (this.#members.size === 0 && this.#timer !== undefined) hold(this.#timer, false);
  }

  #tick = (): void => {
    this.#timer = undefined;
    try {
      runAll(this.#members, (member) => member.tick());
    } finally {
      if (this.#members.size > 0) this.#timer = setTimeout(this.#tick, this.periodMs);
    }
  };
}
