/**
 * Store latency: wraps a backend so every call of its session store,
 * stream log and upload store is timed into `chat_store_operation_seconds`
 * (operation `history.load`, `log.append`, ...). Long polls (`wait*`) are
 * waits, not latency, and pass through untimed. None of these calls is on
 * the per-chunk path.
 * @module
 */
import type { Backend } from "../store/types.ts";
import type { Telemetry } from "./mod.ts";

function timed<T extends object>(target: T, prefix: string, telemetry: Telemetry): T {
  return new Proxy(target, {
    get(object, key) {
      const value = Reflect.get(object, key, object);
      if (typeof value !== "function" || typeof key !== "string" || key.startsWith("wait")) {
        return typeof value === "function" ? value.bind(object) : value;
      }
      const operation = `${prefix}.${key}`;
      return (...args: unknown[]) => {
        const started = performance.now();
        const record = (outcome: "ok" | "error") =>
          telemetry.storeOperation(operation, (performance.now() - started) / 1000, outcome);
        try {
          const result = value.apply(object, args);
          if (!(result instanceof Promise)) return result;
          return result.then(
            (resolved) => (record("ok"), resolved),
            (error) => {
              record("error");
              throw error;
            },
          );
        } catch (error) {
          record("error");
          throw error;
        }
      };
    },
  });
}

/** `backend` with its store calls timed. */
export function timedBackend(backend: Backend, telemetry: Telemetry): Backend {
  return {
    name: backend.name,
    history: timed(backend.history, "history", telemetry),
    streamLog: timed(backend.streamLog, "log", telemetry),
    uploads: timed(backend.uploads, "uploads", telemetry),
    quotas: timed(backend.quotas, "quotas", telemetry),
    ready: () => backend.ready(),
    close: () => backend.close(),
  };
}
