/**
 * Bounds every call into a store: a call that gets no answer within the
 * store timeout fails (`Cannot reach the store: ...`), so a hung engine (a
 * frozen Redis whose socket still takes commands) becomes a clear error for
 * the client instead of a wait with no end.
 * @module
 */
import { within } from "../delay.ts";
import type { Backend } from "./types.ts";

/**
 * `store` with each of its asynchronous methods bounded by `ms`; a wait
 * that has a timeout of its own (`options.timeoutMs`, its last argument)
 * gets that much longer.
 */
function bounded<T extends object>(store: T, ms: number, name: string): T {
  return new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result = value.apply(target, args);
        if (!(result instanceof Promise)) return result;
        const last = args.at(-1) as { timeoutMs?: unknown } | undefined;
        const waitMs = typeof last?.timeoutMs === "number" ? last.timeoutMs : 0;
        return within(result, ms + waitMs, `reach the store: ${name}.${String(key)}`);
      };
    },
  });
}

/** `backend` with every store call and the readiness check bounded by `ms` (closing is not). */
export function boundedBackend(backend: Backend, ms: number): Backend {
  return {
    name: backend.name,
    history: bounded(backend.history, ms, "history"),
    streamLog: bounded(backend.streamLog, ms, "streamLog"),
    uploads: bounded(backend.uploads, ms, "uploads"),
    quotas: bounded(backend.quotas, ms, "quotas"),
    ready: () => within(backend.ready(), ms, "reach the store: ready"),
    close: () => backend.close(),
  };
}
