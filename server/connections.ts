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

/** Options of {@link ConnectionRegistry.add}. */
export interface AddOptions {
  /**
   * Work behind the connections (the hub's running answers): drained and
   * terminated with them, not counted in the {@link DrainReport}.
   */
  background?: boolean;
}

/** Tracks open connections; one per app. */
export class ConnectionRegistry {
  /** Each open entry, and whether it is background work. */
  #open = new Map<Drainable, boolean>();
  #draining = false;

  /** True once {@link drain} was called: new connections are refused. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Number of open connections (background work not counted). */
  get size(): number {
    let size = 0;
    for (const background of this.#open.values()) if (!background) size++;
    return size;
  }

  /** Registers a connection; returns the function that unregisters it. */
  add(connection: Drainable, options: AddOptions = {}): () => void {
    this.#open.set(connection, options.background ?? false);
    return () => this.remove(connection);
  }

  /** Unregisters a connection (what the function {@link add} returns does). */
  remove(connection: Drainable): void {
    this.#open.delete(connection);
  }

  /**
   * Refuses new connections, drains every open one in parallel and
   * terminates those whose drain has not ended after `timeoutMs` (one whose
   * drain ended is done, whether or not it unregistered itself).
   */
  async drain(timeoutMs: number): Promise<DrainReport> {
    this.#draining = true;
    const open = [...this.#open];
    const ended = new Set<Drainable>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([
      Promise.allSettled(
        open.map(([connection]) => connection.drain().then(() => ended.add(connection))),
      ),
      timeout,
    ]);
    clearTimeout(timer);
    // Still open and not drained: those that opened meanwhile too.
    const left = new Map([...this.#open].filter(([connection]) => !ended.has(connection)));
    this.#open.clear();
    const counted = (entries: [Drainable, boolean][]) =>
      entries.filter(([, background]) => !background).length;
    const report: DrainReport = {
      drained: counted(open.filter(([connection]) => !left.has(connection))),
      terminated: counted([...left]),
    };
    const ending: Promise<void>[] = [];
    for (const connection of left.keys()) {
      try {
        const pending = connection.terminate();
        if (pending) ending.push(pending.catch(() => {}));
      } catch {
        // Already gone.
      }
    }
    await Promise.race([
      Promise.all(ending),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    return report;
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
