/**
 * Delivery of one answer to one client connection, whatever the transport:
 * start or attach, resume after a sequence number (here or from another
 * instance's log), cancel, detach on disconnect, graceful shutdown and the
 * stop reasons (shutdown, stall) every transport sends.
 * @module
 */
import { ErrorCode } from "../../protocol/codes.ts";
import { isFinal, TurnStop } from "../core.ts";
import type { Logger } from "../log.ts";
import type { Transport } from "../telemetry/mod.ts";
import type { LoggedEvent } from "../store/types.ts";
import type {
  Producer,
  ResumeResult,
  StartOptions,
  StartRefusal,
  StartRequest,
  StreamHub,
  Subscriber,
} from "./hub.ts";

/** The stop reason of every answer ended by a graceful shutdown. */
export function shutdownStop(): TurnStop {
  return new TurnStop(ErrorCode.ShuttingDown, "The server is restarting; reconnect shortly");
}

/** The stop reason of an answer whose client stopped reading past the stall limit. */
export function stallStop(): TurnStop {
  return new TurnStop(ErrorCode.Timeout, "The client stopped reading");
}

/** The error a client gets when its resume of `requestId` is refused. */
export function resumeRefusal(
  result: Exclude<ResumeResult, "resumed">,
  requestId: string,
): { code: ErrorCode; message: string } {
  if (result === "unavailable") {
    return {
      code: ErrorCode.Unavailable,
      message: `Cannot resume "${requestId}": the shared store is unreachable; try again shortly`,
    };
  }
  if (result === "ahead") {
    return {
      code: ErrorCode.InvalidFrame,
      message: `Cannot resume "${requestId}": last_seq is beyond what the answer has produced`,
    };
  }
  return result === "forbidden"
    ? {
      code: ErrorCode.Forbidden,
      message: `Cannot resume "${requestId}": it belongs to another identity`,
    }
    : {
      code: ErrorCode.NotFound,
      message:
        `Cannot resume: no answer with request_id "${requestId}" (it finished and expired, or never started)`,
    };
}

/** How a transport takes the events of its answer. */
export interface DeliveryOptions {
  /** The authenticated identity, when authentication is on. */
  identity?: string;
  /** The client's address (its answer budget key when authentication is off). */
  client?: string;
  /**
   * Writes one event to the client (encoded by the transport's dialect).
   * `now`: it leaves at once instead of with the burst it is part of (the
   * answer's `start`, with the request id a cancel needs; the final event,
   * which ends no burst: nothing comes after it to share its write; and,
   * with {@link flushFirst}, the first event after `start`).
   */
  write(item: LoggedEvent, now: boolean): void;
  /**
   * Called instead of {@link pace} after the first event past `start`
   * when the runtime writes only once the app yields (Deno; Bun within a
   * message handler or request): settles once that event is out, so it
   * does not wait for the end of a burst.
   */
  flushFirst?(): Promise<void>;
  /**
   * Called after each non-final event; a returned promise pauses the
   * answer until the client caught up (backpressure).
   */
  pace?(): void | Promise<void>;
  /** Called once when the answer is over for this client. */
  onEnd?(): void;
  /** Where failures are logged. */
  logger: Logger;
  /** The client's transport, for metrics. */
  transport: Transport;
}

/** One answer (`answerId`) delivered to one client connection. */
export class Delivery {
  /** The answer's request id. */
  readonly answerId: string;
  #hub: StreamHub;
  #options: DeliveryOptions;
  #producer: Producer | undefined;
  /** Stops following another instance's log; made by {@link resume} (a new answer has none). */
  #following: AbortController | undefined;
  /** What {@link done} waits on; made when first asked for (most deliveries never are). */
  #ended: PromiseWithResolvers<void> | undefined;
  #over = false;
  /** Events written to this client (added to the metrics once, at the end). */
  #sent = 0;
  /** Set by a cancel that arrives while {@link start} is still opening the answer. */
  #cancelWanted = false;
  /** True once the first event after `start` was written and let out (see `flushFirst`). */
  #firstOut = false;
  #subscriber: Subscriber = {
    deliver: (item) => {
      if (this.#over) return;
      this.#sent++;
      const first = !this.#firstOut && item.seq !== 0 && this.#options.flushFirst !== undefined;
      const final = isFinal(item.event);
      this.#options.write(item, first || final || item.seq === 0);
      if (final) this.#end();
      else if (!first) return this.#options.pace?.();
      else {
        this.#firstOut = true;
        return this.#options.flushFirst!();
      }
    },
  };

  /** Prepares the delivery of answer `answerId`; call {@link start} or {@link resume}. */
  constructor(hub: StreamHub, answerId: string, options: DeliveryOptions) {
    this.#hub = hub;
    this.answerId = answerId;
    this.#options = options;
  }

  /** Settles when the answer is over for this client. */
  get done(): Promise<void> {
    if (this.#over) return Promise.resolve();
    this.#ended ??= Promise.withResolvers<void>();
    return this.#ended.promise;
  }

  /** True once the answer is over for this client. */
  get over(): boolean {
    return this.#over;
  }

  /**
   * Starts a new answer (`request.requestId` is {@link answerId}) with this
   * client attached. `refused` is told why it cannot start (its request id
   * is taken, or the client is at its answer budget), before the delivery
   * ends. `options.clientChosenId`: the client picked the id;
   * `options.slot`: the answer-budget slot already taken
   * ({@link StreamHub.admit}). Never rejects.
   */
  async start(
    request: Omit<StartRequest, "requestId">,
    refused: (refusal: StartRefusal) => void,
    options: Pick<StartOptions, "clientChosenId" | "slot"> = {},
  ): Promise<void> {
    const { identity, client } = this.#options;
    try {
      const opened = await this.#hub.open(
        { ...request, requestId: this.answerId },
        this.#subscriber,
        { identity, client, ...options },
      );
      if (!("code" in opened)) {
        // Gone or cancelled while the answer was being opened: stop it at once.
        if (this.#over || this.#cancelWanted) opened.cancel();
        if (!this.#over) this.#producer = opened;
        return;
      }
      refused(opened);
    } catch (error) {
      this.#options.logger.error("Cannot start answer", { request_id: this.answerId, error });
    }
    this.#end();
  }

  /**
   * Sends every event after `afterSeq`, then the live ones, from the local
   * producer or another instance's log. `refused` is told why a resume
   * cannot be served (before the delivery ends). Never rejects.
   */
  async resume(
    afterSeq: number,
    refused: (refusal: { code: ErrorCode; message: string }) => void,
  ): Promise<void> {
    try {
      this.#following ??= new AbortController();
      const result = await this.#hub.resume(this.answerId, afterSeq, this.#subscriber, {
        signal: this.#following.signal,
        identity: this.#options.identity,
        onAttach: (producer) => (this.#producer = producer),
      });
      this.#resumed(afterSeq, result);
      if (result !== "resumed") refused(resumeRefusal(result, this.answerId));
      // Everything was replayed (the final event included, unless the client
      // already had it): the answer is over for this client.
      else if (this.#producer && !this.#producer.ended) return;
    } catch (error) {
      this.#options.logger.error("Cannot resume answer", { request_id: this.answerId, error });
    }
    this.#end();
  }

  /** Counts a resume and marks it on the answer's span (when it runs here). */
  #resumed(afterSeq: number, result: string): void {
    const { transport, logger } = this.#options;
    this.#hub.telemetry.resumed(transport, result);
    this.#producer?.trace.event("resume", {
      "chat.transport": transport,
      "chat.resume.after_seq": afterSeq,
    });
    logger.debug("Resume", {
      request_id: this.answerId,
      trace_id: this.#producer?.trace.traceId,
      transport,
      after_seq: afterSeq,
      result,
    });
  }

  /** Cancels the answer, wherever it runs (the client asked). */
  async cancel(): Promise<boolean> {
    const { transport, logger, identity } = this.#options;
    this.#cancelWanted = true;
    const producer = this.#producer;
    const cancelled = producer
      ? !producer.ended && (producer.cancel(), true)
      : await this.#hub.cancel(this.answerId, identity);
    if (cancelled) this.#hub.telemetry.cancelled(transport);
    logger.debug("Cancel", { request_id: this.answerId, transport, found: cancelled });
    return cancelled;
  }

  /** Ends the answer with an `error` of `reason`'s code (stall, timeout). */
  stop(reason: TurnStop): void {
    this.#producer?.cancel(reason);
  }

  /**
   * The client went away. `keepAlive`: the answer goes on for the grace
   * period for a resume; else it is cancelled (when no one else follows it).
   */
  detach(keepAlive: boolean): void {
    this.#following?.abort();
    this.#producer?.unsubscribe(this.#subscriber, keepAlive);
    this.#end();
  }

  /**
   * Graceful restart: let go of the answer without ending it. It runs on
   * (logged) until it ends or the restart's timeout stops it, and the
   * client resumes it on another instance after its last `seq`.
   */
  shutdown(): void {
    this.detach(true);
  }

  #end(): void {
    if (this.#over) return;
    this.#over = true;
    this.#hub.telemetry.chunksSent(this.#options.transport, this.#sent);
    this.#ended?.resolve();
    this.#options.onEnd?.();
  }
}
