/**
 * Deno's front door: the server's own accept loop, so running out of file
 * descriptors or a flood of idle connections never ends the process.
 *
 * `Deno.serve` owns its accept loop: an `accept()` failing with EMFILE
 * ("Too many open files") rejects inside it, unhandled, and the listener
 * is gone; it also waits forever for the first bytes of a connection
 * (slowloris). Here `Deno.listen` accepts, each connection is served with
 * `Deno.serveHttp`, and
 *
 * - an `accept()` that fails (EMFILE, ENFILE, ...) is retried after a short
 *   pause: the server stops accepting while it has no descriptor to spare
 *   and serves again once connections go;
 * - at most `maxConnections` HTTP connections are open at once (those
 *   waiting for a request included): over it, the connection idle the
 *   longest (waiting for a request head) is closed to make room, and a
 *   new connection is closed at once (shed) only when none is idle;
 * - a connection that sends no complete request head within
 *   `headerTimeoutMs` (when it opens, and between keep-alive requests) is
 *   closed.
 *
 * A connection upgraded to a WebSocket leaves the front door's count (it
 * is held by the per-address limit and the registry instead).
 *
 * Each request runs inside an HTTP server span continuing its
 * `traceparent` (what `Deno.serve` does itself when `OTEL_DENO=true`), so
 * the answer's spans keep their parent.
 *
 * `Deno.serveHttp` is deprecated (no longer in Deno 2's type declarations,
 * still in its runtime): {@link frontDoorAvailable} tells whether this
 * runtime has it; without it the adapter falls back to `Deno.serve`.
 * @module
 */

import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { requestContext } from "./telemetry/trace_context.ts";
import { DeadlineQueue } from "./shared_timers.ts";

const tracer = trace.getTracer("chat-stream.front_door");

/** The part of the deprecated `HttpConn` the front door uses. */
interface HttpConn {
  nextRequest(): Promise<RequestEvent | null>;
  close(): void;
}

/** One request of an {@link HttpConn}. */
interface RequestEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): Promise<void>;
}

/** `Deno.serveHttp`, read where the runtime still has it. */
const serveHttp = (Deno as unknown as { serveHttp?: (conn: Deno.Conn) => HttpConn }).serveHttp;

/** True when this runtime can run the front door (`Deno.serveHttp` exists). */
export function frontDoorAvailable(): boolean {
  return typeof serveHttp === "function";
}

/** Options of {@link openFrontDoor}. */
export interface FrontDoorOptions {
  hostname: string;
  port: number;
  /** Most open HTTP connections; over it new ones are closed at once. */
  maxConnections: number;
  /** How long a connection may take to send a request head, and stay idle between requests. */
  headerTimeoutMs: number;
  /** Called when an accept fails or connections are shed (at most once a second). */
  onPressure?(event: { reason: string; shed: number }): void;
}

/** The request handler, as `Deno.serve` calls it. */
export type FrontDoorHandler = (
  request: Request,
  info: { remoteAddr: Deno.NetAddr },
) => Response | Promise<Response>;

/** An open front door. */
export interface FrontDoor {
  /** Where it listens. */
  addr: Deno.NetAddr;
  /** HTTP connections open now. */
  readonly open: number;
  /** Stops accepting, closes idle connections and waits for the others. */
  shutdown(): Promise<void>;
}

/** Pause after a failed accept (EMFILE and the like) before trying again. */
const ACCEPT_BACKOFF_MS = 100;

/** Descriptors left for the runtime, the store and outgoing connections. */
const FD_RESERVE = 64;

/**
 * `wanted`, lowered to what the process's open-file limit allows (Linux:
 * `/proc/self/limits`); `wanted` when the limit cannot be read.
 */
export function connectionCap(wanted: number): number {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = limits.match(/^Max open files\s+(\d+)/m)?.[1];
    if (soft) return Math.max(1, Math.min(wanted, Number(soft) - FD_RESERVE));
  } catch {
    // Not Linux, or no read permission: the configured cap stands.
  }
  return wanted;
}

/** Opens the front door on `options.hostname:port` and serves `handler`. */
export function openFrontDoor(handler: FrontDoorHandler, options: FrontDoorOptions): FrontDoor {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const headerTimeouts = DeadlineQueue.of(options.headerTimeoutMs);
  const open = new Set<HttpConn>();
  const idle = new Set<HttpConn>();
  const serving = new Set<Promise<void>>();
  let closing = false;
  let lastReport = 0;
  let shed = 0;
  const pressure = (reason: string) => {
    const now = Date.now();
    if (now - lastReport < 1_000) return;
    lastReport = now;
    options.onPressure?.({ reason, shed });
    shed = 0;
  };

  const serveConn = async (conn: Deno.Conn) => {
    // As `Deno.serve` does: no Nagle delay. Without it a small frame written
    // right after another waits for the peer's delayed ACK (~40 ms): a new
    // WebSocket's first chunk, sent just after its `session` frame, did.
    (conn as Deno.TcpConn).setNoDelay?.(true);
    const http = serveHttp!(conn);
    open.add(http);
    const info = { remoteAddr: conn.remoteAddr as Deno.NetAddr };
    let upgraded = false;
    try {
      while (!closing) {
        idle.add(http);
        // One timer serves every connection's wait (see `shared_timers.ts`).
        const timeout = headerTimeouts.add(() => close(http));
        const event = await http.nextRequest().catch(() => null);
        timeout.cancel();
        idle.delete(http);
        if (!event) return;
        upgraded = event.request.headers.get("upgrade")?.toLowerCase() === "websocket";
        const response = await traced(handler, event.request, info);
        await event.respondWith(response).catch(() => {});
        if (upgraded && response.status === 101) return;
      }
    } finally {
      open.delete(http);
      idle.delete(http);
      // An upgraded socket lives on without its HTTP connection.
      if (!upgraded) close(http);
    }
  };

  /**
   * At the cap, the connection that has waited longest for a request head
   * (a keep-alive connection between requests, or one that sent nothing
   * yet) is closed to make room: a new client is shed only when every open
   * connection is busy with a request.
   */
  const evictIdle = (): boolean => {
    const oldest = idle.values().next();
    if (oldest.done) return false;
    idle.delete(oldest.value);
    close(oldest.value);
    return true;
  };

  const acceptLoop = async () => {
    while (!closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing || error instanceof Deno.errors.BadResource) return;
        pressure(`Cannot accept a connection: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_BACKOFF_MS));
        continue;
      }
      if (open.size >= options.maxConnections && !evictIdle()) {
        shed++;
        conn.close();
        pressure(`Shedding connections: ${options.maxConnections} open, none idle`);
        continue;
      }
      const work = serveConn(conn).catch(() => {});
      serving.add(work);
      void work.finally(() => serving.delete(work));
    }
  };
  const accepting = acceptLoop();

  return {
    addr: listener.addr as Deno.NetAddr,
    get open() {
      return open.size;
    },
    async shutdown() {
      closing = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      for (const http of idle) close(http);
      await accepting;
      await Promise.allSettled([...serving]);
    },
  };
}

/** Runs `handler` inside an HTTP server span (a no-op span while tracing is off). */
function traced(
  handler: FrontDoorHandler,
  request: Request,
  info: { remoteAddr: Deno.NetAddr },
): Promise<Response> {
  const parent = requestContext(request.headers.get("traceparent") ?? undefined);
  const attributes = { "http.request.method": request.method, "url.full": request.url };
  return tracer.startActiveSpan(
    request.method,
    { kind: SpanKind.SERVER, attributes },
    parent,
    async (span) => {
      try {
        const response = await handler(request, info);
        span.setAttribute("http.response.status_code", response.status);
        if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        return response;
      } finally {
        span.end();
      }
    },
  );
}

function close(http: HttpConn): void {
  try {
    http.close();
  } catch {
    // Already closed.
  }
}
