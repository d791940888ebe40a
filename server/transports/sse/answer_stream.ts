/**
 * One answer (new or resumed) delivered as an event stream, whatever the
 * dialect on top (the native SSE frames, or the AI SDK's UI message chunks
 * for its HTTP transport): backpressure, the stall limit, the connection
 * registry (graceful shutdown) and the client going away.
 *
 * Backpressure: the answer pauses while the stream's queue is full; a
 * client that stays stalled past `STALL_TIMEOUT_MS` has its stream torn
 * down and its answer stopped. A client that goes away, or a graceful
 * restart, leaves the answer running (logged) for the grace period, so a
 * reconnect finds it.
 * @module
 */
import type { Config } from "../../config.ts";
import type { ConnectionRegistry } from "../../connections.ts";
import type { Context as TraceContext } from "@opentelemetry/api";
import type { Context } from "hono";
import type { BudgetSlot } from "../../guards/answer_budget.ts";
import type { GuardEnv, Lease } from "../../guards/env.ts";
import { ErrorCode } from "../../../protocol/codes.ts";
import { errorResponse, rateLimitedResponse } from "../../http_error.ts";
import type { Logger } from "../../log.ts";
import type { LoggedEvent } from "../../store/types.ts";
import { Delivery, stallStop } from "../../streams/delivery.ts";
import type { StartRefusal, StreamHub } from "../../streams/hub.ts";
import type { Dialect } from "../../telemetry/mod.ts";
import { nextIoTurn } from "../../io_turn.ts";
import { type Deadline, DeadlineQueue } from "../../shared_timers.ts";
import { EventStream } from "./event_stream.ts";

/** What an answer stream needs. */
export interface AnswerStreamDeps {
  hub: StreamHub;
  config: Config;
  registry: ConnectionRegistry;
  logger: Logger;
  /**
   * How the first chunk is let out before the burst behind it. True (Bun):
   * wait for the event loop's next turn; Bun writes nothing of a response,
   * headers included, before the app yields, and its reader takes bytes as
   * they come. False (Deno): wait until the reader took the first chunk
   * (it asks for bytes only once the response left the app's middleware),
   * then for the next turn, when it is written.
   */
  firstChunkTurn?: boolean;
}

/** Sends one `data:` message, with an optional `id:`. */
export type SendData = (data: string, id?: string) => void;

/** How a dialect writes its answer to the event stream. */
export interface StreamDialect {
  /** Send a `retry:` hint with the first message (and after a drain starts). */
  retry?: boolean;
  /** Writes one event of the answer. */
  write(item: LoggedEvent, send: SendData): void;
  /** Tells the client why its answer or resume was refused (the stream then ends). */
  refusal(refusal: StartRefusal, send: SendData): void;
}

/** One answer to stream. */
export interface AnswerStreamRequest {
  /** The answer's request id. */
  requestId: string;
  /** A new answer: its question; absent to resume `requestId` after `afterSeq`. */
  start?: {
    query: string;
    sessionId: string;
    regenerate?: boolean;
    keepTurns?: number;
    owner?: string;
  };
  /** Where a resume picks up (-1: from the first event). */
  afterSeq?: number;
  lease?: Lease;
  identity?: string;
  /** The client's address (its answer budget key when authentication is off). */
  client?: string;
  /** The client chose `requestId`: refused when the stream log still holds it. */
  clientChosenId?: boolean;
  /** The answer-budget slot taken before the response started ({@link StreamHub.admit}). */
  slot?: BudgetSlot;
  /** The trace context the answer continues. */
  parent: TraceContext;
  /** Which protocol the stream speaks, for telemetry (both count as transport `sse`). */
  protocol: Dialect;
  dialect: StreamDialect;
}

/**
 * Takes the client's answer-budget slot for a new answer before its
 * response starts: the slot (pass it as {@link AnswerStreamRequest.slot}),
 * or a 429 `rate_limited` response with `Retry-After` (503 `unavailable`
 * when the budget cannot be checked).
 */
export async function admitAnswer(
  c: Context<GuardEnv>,
  hub: StreamHub,
): Promise<BudgetSlot | Response> {
  const admitted = await hub.admit({ identity: c.get("identity"), client: c.get("client") });
  if (typeof admitted === "function") return admitted;
  const retryAfter = admitted.retryAfter ?? 1;
  if (admitted.code !== ErrorCode.Unavailable) {
    return rateLimitedResponse(c, admitted.message, retryAfter);
  }
  c.header("retry-after", String(retryAfter));
  return errorResponse(c, 503, admitted.code, admitted.message, { retry_after: retryAfter });
}

/** Streams one answer (new or resumed) as an event stream body. */
export function openAnswerStream(
  deps: AnswerStreamDeps,
  request: AnswerStreamRequest,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const { config, registry, hub } = deps;
  const { requestId, dialect } = request;
  let stall: Deadline | undefined;
  let paused: (() => void) | undefined;
  let sendRetry = dialect.retry ?? false;
  let released = false;
  const connection = hub.telemetry.connection("sse", { parent: request.parent });
  const unpause = () => {
    stall?.cancel();
    paused?.();
    paused = undefined;
  };
  /** Pauses the answer until the reader asks for bytes, or stops it when the client stalls. */
  const waitForReader = () => {
    // One shared timer for every stream's stall deadline (a pause costs no timer of its own).
    stall = DeadlineQueue.of(config.STALL_TIMEOUT_MS).add(() => {
      delivery.stop(stallStop());
      tearDown();
    });
    return new Promise<void>((resolve) => (paused = resolve));
  };
  /** Frees the connection's slots once; true the first time. */
  const release = () => {
    if (released) return false;
    released = true;
    connection.end();
    unpause();
    unregister();
    request.lease?.release();
    return true;
  };
  const stream = new EventStream({
    heartbeatMs: config.SSE_HEARTBEAT_MS,
    highWaterMark: 64,
    onPull: unpause,
    // The client went away: the answer goes on for the grace period, so a
    // reconnect can pick it up.
    onCancel: () => delivery.detach(true),
  });
  // A dialect's data is a JSON text or a fixed token: one line (see formatLine).
  const send: SendData = (data, id) => {
    if (!sendRetry) return stream.sendLine(data, id);
    stream.send({ id, data, retry: config.SSE_RETRY_MS });
    sendRetry = false;
  };
  const tearDown = () => {
    if (release()) stream.error(new Error("Stream closed by the server"));
    delivery.detach(false);
  };
  const delivery = new Delivery(hub, requestId, {
    identity: request.identity,
    client: request.client,
    logger: deps.logger,
    transport: "sse",
    write: (item) => dialect.write(item, send),
    // What the user waits for leaves now, not after the burst behind it.
    flushFirst: deps.firstChunkTurn
      ? nextIoTurn
      : () => (stream.waiting ? waitForReader().then(nextIoTurn) : nextIoTurn()),
    pace: () => stream.full ? waitForReader() : undefined,
    // The answer is over for this client: close the stream normally.
    onEnd: () => {
      if (release()) stream.close();
    },
  });
  const unregister = registry.add({
    // Restart: the answer runs on, logged; ending the stream makes the
    // client reconnect (EventSource after `retry`, with Last-Event-ID), anywhere.
    drain: () => {
      unpause();
      delivery.shutdown();
      return Promise.resolve();
    },
    terminate: tearDown,
  });
  const origin = { transport: "sse" as const, dialect: request.protocol, parent: request.parent };
  if (request.start) {
    void delivery.start(
      { ...request.start, origin },
      (refusal) => dialect.refusal(refusal, send),
      { clientChosenId: request.clientChosenId, slot: request.slot },
    );
  } else void delivery.resume(request.afterSeq ?? -1, (refusal) => dialect.refusal(refusal, send));
  return stream.body;
}
