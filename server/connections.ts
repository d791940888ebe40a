/**
 * The registry of open streaming connections (WebSockets and SSE streams),
 * used for graceful shutdown: stop accepting, ask every connection to end
 * its turn and close with "restarting", and bound the whole by a timeout.
 * Runtime-agnostic; the Deno and Bun entries get it with {@link registryOf}.
 * @module
 */

/** A connection the registry can end. */
export interface Drainable {
  /** Ends the running turn (persisting it), tells the peer, closes. */
  drain(): Promise<void>;
  /**
   * Closes at once; called for connections still open when the drain times
   * out. A returned promise is awaited briefly (final writes to the store).
   */
  terminate(): void | Promise<void>;
}

/** What {@link ConnectionRegistry.drain} did. */
export interface DrainReport {
  /** Connections that ended within the timeout. */
  drained: number;
  /** Connections closed by force when the timeout passed. */
  terminated: number;
}

/** How long terminated connections may take for their final writes. */
const TERMINATE_WAIT_MS = 2_000;

/** Tracks open connections; one per app. */
export class ConnectionRegistry {
  #open = new Set<Drainable>();
  #draining = false;

  /** True once {@link drain} was called: new connections are refused. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Number of open connections. */
  get size(): number {
    return this.#open.size;
  }

  /** Registers a connection; returns the function that unregisters it. */
  add(connection: Drainable): () => void {
    this.#open.add(connection);
    return () => this.#open.delete(connection);
  }

  /**
   * Refuses new connections, drains every open one in parallel and
   * terminates those still open after `timeoutMs`.
   */
  async drain(timeoutMs: number): Promise<DrainReport> {
    this.#draining = true;
    const open = [...this.#open];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([
      Promise.allSettled(open.map((connection) => connection.drain())),
      timeout,
    ]);
    clearTimeout(timer);
    const left = [...this.#open];
    const ending: Promise<void>[] = [];
    for (const connection of left) {
      try {
        const pending = connection.terminate();
        if (pending) ending.push(pending.catch(() => {}));
      } catch {
        // Already gone.
      }
      this.#open.delete(connection);
    }
    await Promise.race([
      Promise.all(ending),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    return { drained: open.length - left.length, terminated: left.length };
  }
}

const registries = new WeakMap<object, ConnectionRegistry>();

/** The registry of `app`, created on first use; `createApp` and the entries share it. */
export function registryOf(app: object): ConnectionRegistry {
  let registry = registries.get(app);
  if (!registry) {
    registry = new ConnectionRegistry();
    registries.set(app, registry);
  }
  return registry;
}
