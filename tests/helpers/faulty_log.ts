/**
 * A real stream log whose writes fail on demand (a store that refuses a
 * value, or is busy for a moment), counting every attempt, for tests of
 * how a producer copes with a failing log.
 * @module
 */
import type { LoggedEvent, StreamLog } from "../../server/store/types.ts";

/** Which writes fail: each returns the error to throw, or nothing to let the write through. */
export interface Faults {
  /** Called for every append with the batch and how many times this batch was tried (from 1). */
  append?(events: LoggedEvent[], attempt: number): Error | undefined;
  /** Called for every begin with how many times this answer's begin was tried (from 1). */
  begin?(attempt: number): Error | undefined;
}

/** What {@link faultyLog} returns. */
export interface FaultyLog {
  /** The stream log to give the producing hub. */
  log: StreamLog;
  /** Append attempts per batch, keyed by the batch's first `seq`. */
  appends: Map<number, number>;
  /** Begin attempts per request id. */
  begins: Map<string, number>;
}

/** `log`, with its appends and begins failing as `faults` says. */
export function faultyLog(log: StreamLog, faults: Faults): FaultyLog {
  const appends = new Map<number, number>();
  const begins = new Map<string, number>();
  const count = <K>(counts: Map<K, number>, key: K) => {
    const attempt = (counts.get(key) ?? 0) + 1;
    counts.set(key, attempt);
    return attempt;
  };
  const faulty: Partial<StreamLog> = {
    append(requestId, events, ended) {
      const error = faults.append?.(events, count(appends, events[0]?.seq ?? -1));
      return error ? Promise.reject(error) : log.append(requestId, events, ended);
    },
    begin(requestId, info) {
      const error = faults.begin?.(count(begins, requestId));
      return error ? Promise.reject(error) : log.begin(requestId, info);
    },
  };
  const proxy = new Proxy(log, {
    get(target, key) {
      const own = faulty[key as keyof StreamLog];
      if (own) return own;
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { log: proxy, appends, begins };
}
