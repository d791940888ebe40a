/**
 * One WebSocket of `/ws/chat` ({@link WsConnection}): socket handling only.
 * Rate limit, frame size limit, decoding and dispatch to the dialect
 * modules, backpressure on `bufferedAmount`, close and graceful drain.
 *
 * One answer at a time per socket: a query that arrives while an answer
 * streams gets a `busy` error and the running answer goes on. Answers run
 * in the hub, not in the socket: a socket that drops (any close but a clean
 * 1000) leaves its answer running for the grace period to be resumed.
 * @module
 */
import { type Context, isSpanContextValid, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import type { WSContext } from "hono/ws";
import { CloseCode, ErrorCode } from "../../../protocol/codes.ts";
import { decodeClientFrame, type ServerFrame } from "../../../protocol/frames.ts";
import type { Drainable } from "../../connections.ts";
import { newId } from "../../core.ts";
import type { FrameEncoder } from "../../encode.ts";
import type { Rejection } from "../../guards/env.ts";
import { Delivery, stallStop } from "../../streams/delivery.ts";
import { aiSdkErrorFrame, handleAiSdk, isAiSdkFrame } from "./ai_sdk.ts";
import { handleNative } from "./native.ts";
import { clientKeyOf } from "../../guards/budgets.ts";
import {
  type ActiveAnswer,
  errorFrame,
  type StartTurn,
  type WsDeps,
  type WsSession,
} from "./session.ts";
import { Outbox } from "./outbox.ts";
import { nextIoTurn } from "../../io_turn.ts";
import { WsUploads } from "./uploads.ts";

/** The close code a peer's close frame without a status code arrives as. */
const NO_STATUS = 1005;

/** Frames sent between two reads of the socket's buffered amount. */
const BUFFER_CHECK_EVERY = 16;

/** The close reason of a restart: the answer is not lost. */
const RESTART_REASON = "Server restarting; reconnect and resume";

/** What Bun's `ServerWebSocket.send` returns for a frame it dropped (past its backpressure limit). */
const DROPPED = 0;

/** The close reason when a frame could not be queued: the client resumes after its last `seq`. */
const DROPPED_REASON = "Slow consumer: the send buffer is full";

/** How often a paused answer checks whether the socket drained. */
const DRAIN_POLL_MS = 10;

/**
 * The connection of each open socket whose runtime reports control-frame
 * pings, by the runtime's raw socket.
 */
const pingCounted = new WeakMap<object, WsConnection>();

/**
 * A runtime adapter reports a control-frame ping a peer sent on `raw` (its
 * own socket object): it counts against the socket's message rate limit,
 * so a ping flood is closed 4029 like any other. Bun reports pings; Deno
 * answers them inside the runtime and never shows them to the app (its
 * sockets are not registered here).
 */
export function controlPingReceived(raw: unknown): void {
  if (typeof raw === "object" && raw !== null) pingCounted.get(raw)?.pinged();
}

/** What every socket's message chain starts from (shared: an idle socket allocates none). */
const SETTLED: Promise<void> = Promise.resolve();

/** Options of {@link WsConnection}. */
export interface WsConnectionOptions {
  /** The authenticated identity, when authentication is on. */
  identity?: string;
  /** The socket's trace context (its answers' spans are children). */
  trace?: Context;
  /** Whose list of chats new sessions join. */
  owner?: string;
  /** The client's address (its answer budget key when authentication is off). */
  client?: string;
  /** Whose budgets the socket draws on (default: the identity, else "unknown"). */
  clientKey?: string;
}

/** The parts of a runtime's own socket (Deno's WebSocket, Bun's ServerWebSocket) used here. */
interface RawSocket {
  send?: (frame: string) => unknown;
  /** Bun: runs `writes`, its sends leaving as one write. */
  cork?: (writes: () => void) => unknown;
  bufferedAmount?: number;
  getBufferedAmount?: () => number;
}

/** How many bytes a socket has queued but not yet written. */
function bufferedAmount(raw: RawSocket | undefined): number {
  if (typeof raw?.bufferedAmount === "number") return raw.bufferedAmount;
  if (typeof raw?.getBufferedAmount === "function") return raw.getBufferedAmount();
  return 0;
}

/**
 * True for a web `WebSocket`, as `Deno.upgradeWebSocket` returns: it
 * writes a frame only once the app yields to its event loop, and answers
 * pings itself.
 */
function isWebSocket(ws: WSContext): boolean {
  return typeof WebSocket === "function" && ws.raw instanceof WebSocket;
}

/**
 * True when the socket's frames wait in an outbox (see `outbox.ts`): a web
 * `WebSocket` ({@link isWebSocket}), and Bun's `ServerWebSocket`, which
 * writes the sends of a message handler at its end but each later send on
 * its own (its outbox rounds are written inside its `cork`).
 */
function groupsFrames(ws: WSContext): boolean {
  return isWebSocket(ws) || typeof (ws.raw as RawSocket | undefined)?.cork === "function";
}

/** The bytes of a binary message, whatever the runtime hands over. */
async function bytesOf(data: unknown): Promise<Uint8Array | undefined> {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  return undefined;
}

const utf8 = new TextEncoder();

/**
 * The UTF-8 byte length of `text` when it may exceed `limit`, else a bound (a
 * UTF-16 unit is 1 to 3 bytes, so short strings need no counting).
 */
export function utf8Length(text: string, limit: number): number {
  if (text.length > limit || text.length * 3 <= limit) return text.length;
  return utf8.encode(text).byteLength;
}

/** Close reasons must fit in 123 bytes. */
function truncateReason(reason: string): string {
  return reason.length <= 120 ? reason : reason.slice(0, 117) + "...";
}

/**
 * State and message handling of one WebSocket. An idle socket holds only
 * plain fields: its outbox, uploads and the promise {@link drain} waits on
 * are made when first needed (thousands of idle sockets are the common case).
 */
export class WsConnection implements Drainable, WsSession {
  readonly deps: WsDeps;
  readonly identity: string | undefined;
  #trace: Context;
  #client: string | undefined;
  readonly clientKey: string;
  #ws: WSContext;
  /**
   * The runtime's own socket: frames go to its `send` when it has one,
   * skipping the per-frame work of Hono's `WSContext` wrapper.
   */
  #raw: RawSocket | undefined;
  #active: ActiveAnswer | undefined;
  /** Made by the first upload frame. */
  #uploads: WsUploads | undefined;
  /** Inbound messages, handled one after another once the client's message budget admits them. */
  #inbound: Promise<void> = SETTLED;
  /** Messages queued on {@link #inbound} and not yet handled. */
  #waiting = 0;
  /** True once the socket closed (or is closing): nothing is sent any more. */
  #closed = false;
  /** True once the runtime reported the close ({@link close}). */
  #ended = false;
  /** What {@link drain} waits on until the close is reported; made by the drain. */
  #gone: PromiseWithResolvers<void> | undefined;
  #owner: string | undefined;
  #windowStart = 0;
  #windowCount = 0;
  /** The socket's frames go through the outbox (Deno, Bun: see {@link groupsFrames}). */
  #grouped: boolean;
  /** Frames sent in this turn, not yet handed to the runtime (made by the first send; see `outbox.ts`). */
  #outbox: Outbox | undefined;
  /** Over the per-socket limit: the rejection is queued, later messages are ignored. */
  #rejected = false;

  /** Wraps an open socket. */
  constructor(deps: WsDeps, ws: WSContext, options: WsConnectionOptions = {}) {
    this.deps = deps;
    this.identity = options.identity;
    this.#owner = options.owner;
    this.#trace = options.trace ?? ROOT_CONTEXT;
    this.#client = options.client;
    this.clientKey = options.clientKey ?? clientKeyOf(options.identity, "unknown");
    this.#ws = ws;
    this.#raw = ws.raw as RawSocket | undefined;
    this.#grouped = groupsFrames(ws);
    // Deno's web WebSocket never reports pings: nothing to register.
    if (!isWebSocket(ws) && typeof ws.raw === "object" && ws.raw !== null) {
      pingCounted.set(ws.raw, this);
    }
  }

  /** The answer streaming on this socket, if any. */
  get active(): ActiveAnswer | undefined {
    return this.#active;
  }

  /** True once the socket closed (or is closing). */
  get closed(): boolean {
    return this.#closed;
  }

  /** The socket's trace id, when it is traced or continues a caller's trace. */
  get traceId(): string | undefined {
    const context = trace.getSpanContext(this.#trace);
    return context && isSpanContextValid(context) ? context.traceId : undefined;
  }

  /**
   * Sends one text frame, in order; dropped once the socket closed. On
   * Deno and Bun the frame waits in the socket's outbox until the burst
   * sending it yields; {@link flush} writes it at once.
   */
  send(frame: string): void {
    if (this.#closed) return;
    if (!this.#grouped) return this.#write(frame);
    this.#outbox ??= this.#newOutbox();
    this.#outbox.send(frame);
  }

  /**
   * Sends one text frame at once, after the frames waiting in the outbox
   * (what the user waits for: a round is not worth scheduling for it).
   */
  sendNow(frame: string): void {
    if (this.#closed) return;
    this.flush();
    this.#write(frame);
  }

  /** The socket's outbox; on Bun, each of its rounds is one write (`cork`). */
  #newOutbox(): Outbox {
    const raw = this.#raw;
    const cork = typeof raw?.cork === "function"
      ? (writes: () => void) => void raw.cork!(writes)
      : undefined;
    return new Outbox((frame) => this.#write(frame), { cork });
  }

  /** Hands the frames waiting in the outbox to the runtime, in order. */
  flush(): void {
    this.#outbox?.flush();
  }

  #write(frame: string): void {
    if (this.#closed) return;
    try {
      const raw = this.#raw;
      if (typeof raw?.send !== "function") return this.#ws.send(frame);
      // Bun drops a frame past its backpressure limit (its send says 0): nothing after the gap goes.
      if (raw.send(frame) === DROPPED) this.#close(CloseCode.SlowConsumer, DROPPED_REASON);
    } catch {
      // The socket closed under us; its close event lets the answer go.
      this.#closed = true;
    }
  }

  /**
   * The socket closed. A deliberate close (1000, or 1005: a close frame
   * with no code) cancels the answer; any other (a drop, a page reload)
   * leaves it running for the grace period, to resume.
   */
  close(code = 1006): void {
    this.#closed = true;
    this.#ended = true;
    this.#uploads?.close();
    const deliberate = code === CloseCode.Normal || code === NO_STATUS;
    this.#active?.delivery.detach(!deliberate);
    this.#gone?.resolve();
  }

  /** Closes the socket with `code`, after what was sent before. */
  #shut(code: number, message: string): void {
    if (this.#closed) return;
    this.flush();
    this.#close(code, message);
  }

  /** Closes the socket with `code` now: what waits in the outbox is dropped. */
  #close(code: number, message: string): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#ws.close(code, message);
    } catch {
      // Already closing.
    }
  }

  /**
   * Graceful restart: let go of the answer (it runs on to its end, logged),
   * close 1012 so the client reconnects to another instance and resumes
   * after its last `seq`, and wait for the closing handshake.
   */
  async drain(): Promise<void> {
    this.#active?.delivery.shutdown();
    this.#shut(CloseCode.ServiceRestart, RESTART_REASON);
    if (this.#ended) return;
    this.#gone ??= Promise.withResolvers<void>();
    await this.#gone.promise;
  }

  /** Closes 1012 at once (the drain timed out). */
  terminate(): void {
    this.#shut(CloseCode.ServiceRestart, RESTART_REASON);
  }

  /** Tells the client it is over a limit (or its budget cannot be checked), then closes 4029. */
  reject(rejection: Rejection & { code?: ErrorCode }): void {
    const code = rejection.code ?? ErrorCode.RateLimited;
    this.deps.hub.telemetry.refused("ws", code);
    this.deps.logger.warn("WebSocket refused", {
      trace_id: this.traceId,
      reason: code,
      detail: rejection.message,
    });
    this.send(JSON.stringify(
      {
        type: "error",
        code,
        message: rejection.message,
        retry_after: rejection.retryAfter,
      } satisfies ServerFrame,
    ));
    this.#shut(CloseCode.RateLimited, truncateReason(rejection.message));
  }

  /** Counts a message against the per-socket per-minute limit; the rejection when over it. */
  #overLimit(): Rejection | undefined {
    const limit = this.deps.config.RATE_LIMIT_PER_MINUTE;
    if (limit === 0) return undefined;
    const now = Date.now();
    if (now - this.#windowStart >= 60_000) {
      this.#windowStart = now;
      this.#windowCount = 0;
    }
    if (++this.#windowCount <= limit) return undefined;
    return {
      retryAfter: Math.max(1, Math.ceil((this.#windowStart + 60_000 - now) / 1000)),
      message: `Rate limit exceeded: at most ${limit} messages per minute per connection`,
    };
  }

  /** A control-frame ping arrived (runtimes that report them): it counts like a message. */
  pinged(): void {
    this.#count();
  }

  /**
   * Counts a message (or a control ping) against the per-socket limit;
   * false when it must be ignored: the socket closed, or went over the
   * limit (its rejection is queued after the messages before it).
   */
  #count(): boolean {
    if (this.#closed || this.#rejected) return false;
    const over = this.#overLimit();
    if (!over) return true;
    this.#rejected = true;
    this.#queue(() => this.reject(over));
    return false;
  }

  /**
   * Handles one inbound message, after the ones before it, once the
   * client key's message budget admits it. Over the per-socket limit the
   * socket is rejected (after the messages before it) and the rest ignored.
   * Never throws.
   */
  receive(data: unknown): void {
    if (!this.#count()) return;
    // Nothing waiting before it and no shared budget to ask: handled now,
    // without a turn of the queue (a query's first chunk waits on this).
    if (this.#waiting === 0 && !this.deps.budgets.limitsMessages) {
      try {
        const pending = this.#handle(data);
        if (pending) this.#queue(() => pending);
      } catch (error) {
        this.deps.logger.error("Cannot handle frame", { error });
      }
      return;
    }
    this.#queue(async () => {
      if (this.#closed) return;
      const refusal = await this.deps.budgets.message(this.clientKey);
      if (this.#closed) return;
      if (refusal) return this.reject(refusal);
      await this.#handle(data);
    });
  }

  /** Runs `work` after the inbound messages before it; failures are logged. */
  #queue(work: () => void | Promise<void>): void {
    this.#waiting++;
    this.#inbound = this.#inbound.then(work)
      .catch((error) => this.deps.logger.error("Cannot handle frame", { error }))
      .finally(() => this.#waiting--);
  }

  /** Handles one admitted message; a promise only when it goes on asynchronously. */
  #handle(data: unknown): void | Promise<void> {
    if (typeof data !== "string") return this.#receiveBinary(data);
    return this.#receiveText(data);
  }

  #receiveText(data: string): void | Promise<void> {
    if (utf8Length(data, this.deps.config.MAX_FRAME_BYTES) > this.deps.config.MAX_FRAME_BYTES) {
      return this.#tooLarge();
    }
    const decoded = decodeClientFrame(data);
    if (!decoded.ok) {
      const { code, message, requestId } = decoded;
      this.send(
        decoded.aiSdk && requestId !== undefined
          ? aiSdkErrorFrame(requestId, code, message)
          : errorFrame(code, message, { requestId }),
      );
      return;
    }
    const frame = decoded.frame;
    if (frame.type === "upload") return this.#uploadsOf().announce(frame);
    if (isAiSdkFrame(frame)) handleAiSdk(this, frame);
    else handleNative(this, frame);
  }

  async #receiveBinary(data: unknown): Promise<void> {
    const bytes = await bytesOf(data);
    if (this.#closed || !bytes) return;
    if (bytes.byteLength > this.deps.config.MAX_FRAME_BYTES) return this.#tooLarge();
    await this.#uploadsOf().receive(bytes);
  }

  /** The socket's uploads, made by its first upload frame. */
  #uploadsOf(): WsUploads {
    return this.#uploads ??= new WsUploads(this);
  }

  #tooLarge(): void {
    this.deps.hub.telemetry.refused("ws", ErrorCode.TooLarge);
    this.#shut(
      CloseCode.MessageTooBig,
      `Frame too large: limit is ${this.deps.config.MAX_FRAME_BYTES} bytes`,
    );
  }

  /** Logs the failure of an asynchronous frame handler (a store gone away at shutdown). */
  settle(work: Promise<void>): void {
    work.catch((error) => this.deps.logger.error("Cannot handle frame", { error }));
  }

  /** Makes `encoder`'s frames of answer `answerId` this socket's active answer. */
  attach(requestId: string, answerId: string, encoder: FrameEncoder): Delivery {
    let unchecked = 0;
    const send = (frame: string) => this.send(frame);
    const sendNow = (frame: string) => this.sendNow(frame);
    const active: ActiveAnswer = {
      requestId,
      delivery: new Delivery(this.deps.hub, answerId, {
        identity: this.identity,
        client: this.#client,
        logger: this.deps.logger,
        transport: "ws",
        // What leaves at once skips the outbox (no round is scheduled for it).
        write: (item, now) => encoder.write(item, now ? sendNow : send),
        // What the user waits for leaves now, not after the burst behind it.
        flushFirst: this.#grouped ? nextIoTurn : undefined,
        pace: () => {
          // Reading bufferedAmount is a call into the runtime: do it every few frames.
          if (++unchecked < BUFFER_CHECK_EVERY) return;
          unchecked = 0;
          if (bufferedAmount(this.#raw) > this.deps.config.WS_HIGH_WATER_BYTES) {
            return this.#drained(active.delivery);
          }
        },
        onEnd: () => {
          if (this.#active === active) this.#active = undefined;
        },
      }),
    };
    this.#active = active;
    return active.delivery;
  }

  /** Starts a new answer on this socket (the hub checks the answer budget). */
  start(turn: StartTurn, encoder: FrameEncoder): void {
    const requestId = turn.requestId ?? newId();
    const delivery = this.attach(requestId, requestId, encoder);
    const { dialect, refused, ...request } = turn;
    void delivery.start(
      {
        ...request,
        owner: this.#owner,
        sessionId: turn.sessionId ?? newId(),
        origin: { transport: "ws", dialect, parent: this.#trace },
      },
      refused,
      { clientChosenId: turn.requestId !== undefined },
    );
  }

  /**
   * Resolves once the socket's buffer fell to half the high-water mark, or
   * closes it 4008 (and stops the answer) when it stays stalled past
   * `STALL_TIMEOUT_MS`.
   */
  #drained(delivery: Delivery): Promise<void> {
    const { WS_HIGH_WATER_BYTES, STALL_TIMEOUT_MS } = this.deps.config;
    const low = WS_HIGH_WATER_BYTES / 2;
    const deadline = Date.now() + STALL_TIMEOUT_MS;
    return new Promise<void>((resolve) => {
      const check = () => {
        if (this.#closed || delivery.over || bufferedAmount(this.#raw) <= low) return resolve();
        if (Date.now() >= deadline) {
          this.#shut(
            CloseCode.SlowConsumer,
            `Slow consumer: not reading for ${STALL_TIMEOUT_MS} ms`,
          );
          delivery.stop(stallStop());
          return resolve();
        }
        setTimeout(check, DRAIN_POLL_MS);
      };
      setTimeout(check, DRAIN_POLL_MS);
    });
  }
}
