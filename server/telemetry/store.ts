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

/** `method` of `object`, timed as `operation`. */
function timedMethod(
  object: object,
  method: (...args: unknown[]) => unknown,
  operation: string,
  telemetry: Telemetry,
): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    const started = performance.now();
    const record = (outcome: "ok" | "error") =>
      telemetry.storeOperation(operation, (performance.now() - started) / 1000, outcome);
    try {
      const result = method.apply(object, args);
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
}

function timed<T extends object>(target: T, prefix: string, telemetry: Telemetry): T {
  // Each method is wrapped once, on its first use (a store's methods do not change).
  const methods = new Map<string | symbol, unknown>();
  return new Proxy(target, {
    get(object, key) {
      const value = Reflect.get(object, key, object);
      if (typeof value !== "function") return value;
      let method = methods.get(key);
      if (method === undefined) {
        method = typeof key !== "string" || key.startsWith("wait")
          ? value.bind(object)
          : timedMethod(
            object,
            value as (...args: unknown[]) => unknown,
            `${prefix}.${key}`,
            telemetry,
          );
        methods.set(key, method);
      }
      return method;
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
