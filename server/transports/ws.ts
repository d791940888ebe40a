/**
 * `/ws/chat`: one {@link WsConnection} per socket, speaking the native
 * (seed) dialect and the AI SDK `WebSocketChatTransport` dialect.
 *
 * One answer at a time per socket: a query that arrives while an answer
 * streams gets a `busy` error and the running answer goes on. Answers run
 * in the {@link StreamHub}, not in the socket: a socket that drops (any
 * close but a clean 1000) leaves its answer running for the grace period,
 * and a `resume` frame on any socket picks it up after the last frame the
 * client saw.
 *
 * Hardening: a per-socket message rate limit (error `rate_limited`, close
 * 4029), the frame size limit (close 1009), backpressure on
 * `bufferedAmount` (the answer pauses above `WS_HIGH_WATER_BYTES`; a socket
 * stalled past `STALL_TIMEOUT_MS` closes 4008), WebSocket ping/pong idle
 * timeout (`WS_IDLE_TIMEOUT_S`) and graceful drain (close 1012).
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import { CloseCode, ErrorCode } from "../../protocol/codes.ts";
import {
  type AiSdkServerFrame,
  type ClientFrame,
  decodeClientFrame,
  decodeSendQuery,
  type NativeResumeFrame,
  type QueryFrame,
  type ResumeFrame,
  type SendFrame,
  type ServerFrame,
  type UploadFrame,
} from "../../protocol/frames.ts";
import type { Attachment } from "../agents/types.ts";
import type { Config } from "../config.ts";
import type { ConnectionRegistry, Drainable } from "../connections.ts";
import { isFinal, newId, TurnStop } from "../core.ts";
import { type FrameEncoder, NativeEncoder, UiChunkEncoder } from "../encode.ts";
import type { GuardEnv, Lease, Rejection } from "../guards/env.ts";
import type { Logger } from "../log.ts";
import { type Producer, resumeRefusal, type StreamHub, type Subscriber } from "../streams/hub.ts";
import { checkHeader, UploadAssembler, UploadError, type UploadStore } from "../uploads.ts";

/** The answer this socket is receiving. */
interface ActiveTurn {
  /** The id the client uses for it (cancel, abort). */
  requestId: string;
  /** Delivers the answer's events to this socket. */
  subscriber: Subscriber;
  /** The producer, when the answer runs on this instance. */
  producer?: Producer;
  /** The answer's own request id (differs from `requestId` for an AI SDK resume). */
  answerId: string;
  /** Stops reading the log of an answer that runs on another instance. */
  tail: AbortController;
  /** Settles when the final frame was sent or the socket let go. */
  done: Promise<void>;
  /** Marks the turn over on this socket. */
  finish(): void;
}

/** An upload announced by a header frame, waiting for its bytes. */
interface PendingUpload {
  assembler: UploadAssembler;
  sessionId: string;
}

/** The close code a peer's close frame without a status code arrives as. */
const NO_STATUS = 1005;

/** Frames sent between two reads of the socket's buffered amount. */
const BUFFER_CHECK_EVERY = 16;

/** How often a paused answer checks whether the socket drained. */
const DRAIN_POLL_MS = 10;

/** What a {@link WsConnection} needs. */
export interface WsDeps {
  hub: StreamHub;
  uploads: UploadStore;
  config: Config;
  log: Logger;
}

/** Options of {@link WsConnection}. */
export interface WsConnectionOptions {
  /** The authenticated identity, when authentication is on. */
  identity?: string;
}

/** Reads how many bytes a socket has queued but not yet written. */
function bufferedReader(ws: WSContext): () => number {
  const raw = ws.raw as { bufferedAmount?: number; getBufferedAmount?: () => number } | undefined;
  if (raw && typeof raw.bufferedAmount === "number") return () => raw.bufferedAmount!;
  if (raw && typeof raw.getBufferedAmount === "function") return () => raw.getBufferedAmount!();
  return () => 0;
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

/** State and message handling of one WebSocket. */
export class WsConnection implements Drainable {
  #hub: StreamHub;
  #uploads: UploadStore;
  #config: Config;
  #log: Logger;
  #ws: WSContext;
  #identity: string | undefined;
  #active: ActiveTurn | undefined;
  #upload: PendingUpload | undefined;
  #binary: Promise<void> = Promise.resolve();
  #closed = false;
  #gone = Promise.withResolvers<void>();
  #buffered: () => number;
  #windowStart = 0;
  #windowCount = 0;
  #send = (frame: string) => {
    if (this.#closed) return;
    try {
      this.#ws.send(frame);
    } catch {
      // The socket closed under us; its close event lets the turn go.
      this.#closed = true;
    }
  };

  /** Wraps an open socket. */
  constructor(deps: WsDeps, ws: WSContext, options: WsConnectionOptions = {}) {
    this.#hub = deps.hub;
    this.#uploads = deps.uploads;
    this.#config = deps.config;
    this.#log = deps.log;
    this.#ws = ws;
    this.#identity = options.identity;
    this.#buffered = bufferedReader(ws);
  }

  /**
   * The socket closed. A deliberate close (1000, or 1005: a close frame
   * with no code) cancels the answer; any other (a drop, a page reload)
   * leaves it running for the grace period, to resume.
   */
  close(code = 1006): void {
    this.#closed = true;
    const active = this.#active;
    if (active) {
      const deliberate = code === CloseCode.Normal || code === NO_STATUS;
      active.tail.abort();
      active.producer?.unsubscribe(active.subscriber, !deliberate);
      active.finish();
    }
    this.#gone.resolve();
  }

  /** Closes the socket with `code`; `stop` also ends the answer with that error. */
  #shut(code: number, message: string, stop?: TurnStop): void {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#ws.close(code, message);
      } catch {
        // Already closing.
      }
    }
    if (stop) this.#active?.producer?.cancel(stop);
  }

  /**
   * Graceful shutdown: end the turn (persisted), close 1012 and wait for
   * the closing handshake, so the listener's shutdown does not cut it.
   */
  async drain(): Promise<void> {
    const active = this.#active;
    if (active?.producer) {
      active.producer.cancel(
        new TurnStop(ErrorCode.ShuttingDown, "The server is restarting; reconnect shortly"),
      );
      await active.done;
    } else active?.tail.abort();
    this.#shut(CloseCode.ServiceRestart, "Server restarting");
    await this.#gone.promise;
  }

  /** Closes 1012 at once (the drain timed out). */
  terminate(): void {
    this.#shut(CloseCode.ServiceRestart, "Server restarting");
  }

  /** Tells the client it is over a limit, then closes 4029. */
  reject(rejection: Rejection): void {
    this.#send(JSON.stringify(
      {
        type: "error",
        code: ErrorCode.RateLimited,
        message: rejection.message,
        retry_after: rejection.retryAfter,
      } satisfies ServerFrame,
    ));
    this.#shut(CloseCode.RateLimited, truncateReason(rejection.message));
  }

  /** Counts a message against the per-minute limit; false when over it. */
  #allow(): boolean {
    const limit = this.#config.RATE_LIMIT_PER_MINUTE;
    if (limit === 0) return true;
    const now = Date.now();
    if (now - this.#windowStart >= 60_000) {
      this.#windowStart = now;
      this.#windowCount = 0;
    }
    if (++this.#windowCount <= limit) return true;
    this.reject({
      retryAfter: Math.max(1, Math.ceil((this.#windowStart + 60_000 - now) / 1000)),
      message: `Rate limit exceeded: at most ${limit} messages per minute per connection`,
    });
    return false;
  }

  /** Handles one inbound message. Never throws. */
  receive(data: unknown): void {
    if (this.#closed || !this.#allow()) return;
    if (typeof data !== "string") {
      this.#binary = this.#binary.then(() => this.#receiveBinary(data)).catch((error) =>
        this.#log.error("Cannot handle binary frame", { error })
      );
      return;
    }
    if (data.length > this.#config.MAX_FRAME_BYTES) {
      this.#tooLarge();
      return;
    }
    const decoded = decodeClientFrame(data);
    if (!decoded.ok) {
      if (decoded.aiSdk && decoded.requestId !== undefined) {
        this.#aiSdkError(decoded.requestId, decoded.code, decoded.message);
      } else {
        this.#error(decoded.code, decoded.message, decoded.requestId);
      }
      return;
    }
    this.#dispatch(decoded.frame);
  }

  #tooLarge(): void {
    this.#shut(
      CloseCode.MessageTooBig,
      `Frame too large: limit is ${this.#config.MAX_FRAME_BYTES} bytes`,
    );
  }

  #dispatch(frame: ClientFrame): void {
    switch (frame.type) {
      case undefined:
      case "query":
        this.#settle(this.#query(frame));
        return;
      case "cancel":
        this.#settle(this.#cancel(frame.request_id));
        return;
      case "ping":
        this.#send(JSON.stringify({ type: "pong", id: frame.id } satisfies ServerFrame));
        return;
      case "upload":
        this.#announceUpload(frame);
        return;
      case "send":
        this.#aiSdkSend(frame);
        return;
      case "resume":
        if ("requestId" in frame) this.#settle(this.#aiSdkResume(frame));
        else this.#resume(frame);
        return;
      case "abort":
        if (this.#active?.requestId === frame.requestId) {
          this.#settle(this.#cancel(frame.requestId));
        }
        return;
    }
  }

  /** Logs the failure of an asynchronous frame handler (a store gone away at shutdown). */
  #settle(work: Promise<void>): void {
    work.catch((error) => this.#log.error("Cannot handle frame", { error }));
  }

  async #query(frame: QueryFrame): Promise<void> {
    if (this.#rejectIfBusy(frame.request_id, false)) return;
    let attachments: Attachment[] | undefined;
    if (frame.attachments?.length) {
      attachments = await this.#loadAttachments(frame);
      if (!attachments || this.#rejectIfBusy(frame.request_id, false)) return;
    }
    this.#start(
      {
        query: frame.query,
        sessionId: frame.session_id,
        requestId: frame.request_id,
        attachments,
      },
      new NativeEncoder(),
    );
  }

  async #loadAttachments(frame: QueryFrame): Promise<Attachment[] | undefined> {
    if (!frame.session_id) {
      this.#error(
        ErrorCode.InvalidFrame,
        'Cannot decode frame: field "session_id" is required with "attachments"',
        frame.request_id,
      );
      return undefined;
    }
    const found: Attachment[] = [];
    for (const uploadId of frame.attachments ?? []) {
      const upload = await this.#uploads.load(frame.session_id, uploadId);
      if (!upload) {
        this.#error(
          ErrorCode.NotFound,
          `Cannot answer: no upload "${uploadId}" in session "${frame.session_id}"`,
          frame.request_id,
        );
        return undefined;
      }
      found.push({ name: upload.name, mime: upload.mime, size: upload.size, text: upload.text });
    }
    return found;
  }

  /** Cancels the running answer, or any answer by id (here or on another instance). */
  async #cancel(requestId: string | undefined): Promise<void> {
    const active = this.#active;
    if (active && (requestId ?? active.requestId) === active.requestId) {
      if (active.producer) active.producer.cancel();
      else await this.#hub.cancel(active.answerId, this.#identity);
      return;
    }
    if (requestId && await this.#hub.cancel(requestId, this.#identity)) return;
    this.#error(
      ErrorCode.NotFound,
      `Cannot cancel: no running answer${requestId ? ` with request_id "${requestId}"` : ""}`,
      requestId,
    );
  }

  #resume(frame: NativeResumeFrame): void {
    const requestId = frame.request_id;
    if (this.#rejectIfBusy(requestId, false)) return;
    const encoder = new NativeEncoder({ requestId, lastSeq: frame.last_seq });
    const turn = this.#attach(requestId, requestId, encoder);
    this.#follow(turn, frame.last_seq, (result) => {
      const { code, message } = resumeRefusal(result, requestId);
      this.#error(code, message, requestId);
    });
  }

  async #aiSdkResume(frame: ResumeFrame): Promise<void> {
    if (this.#rejectIfBusy(frame.requestId, true)) return;
    const answerId = await this.#hub.latest(frame.id);
    if (!answerId || this.#active) {
      this.#send(JSON.stringify({ type: "no-active", requestId: frame.requestId }));
      return;
    }
    this.#send(JSON.stringify({ type: "start", requestId: frame.requestId }));
    const encoder = new UiChunkEncoder(frame.requestId, { skipThrough: frame.lastSequence });
    const turn = this.#attach(frame.requestId, answerId, encoder);
    this.#follow(turn, -1, (result) => {
      const { code, message } = resumeRefusal(result, answerId);
      this.#aiSdkError(frame.requestId, code, message);
    });
  }

  /** Subscribes `turn` to its answer after `afterSeq`; `fail` reports why it cannot. */
  #follow(
    turn: ActiveTurn,
    afterSeq: number,
    fail: (result: "unknown" | "forbidden") => void,
  ): void {
    this.#hub.resume(turn.answerId, afterSeq, turn.subscriber, {
      signal: turn.tail.signal,
      identity: this.#identity,
      onAttach: (producer) => (turn.producer = producer),
    }).then((result) => {
      if (result !== "resumed") {
        turn.finish();
        fail(result);
      } else if (!turn.producer || turn.producer.ended) {
        // Everything was replayed (the final frame included, unless the
        // client already had it): the turn is over on this socket.
        turn.finish();
      }
    }).catch((error) => {
      this.#log.error("Cannot resume answer", { requestId: turn.answerId, error });
      turn.finish();
    });
  }

  #aiSdkSend(frame: SendFrame): void {
    if (frame.trigger !== "submit-message") {
      this.#aiSdkError(
        frame.requestId,
        ErrorCode.Unsupported,
        `Cannot ${frame.trigger}: only "submit-message" is supported`,
      );
      return;
    }
    const decoded = decodeSendQuery(frame);
    if (!decoded.ok) {
      this.#aiSdkError(frame.requestId, decoded.code, decoded.message);
      return;
    }
    if (this.#rejectIfBusy(frame.requestId, true)) return;
    this.#start(
      { query: decoded.query, sessionId: frame.id, requestId: frame.requestId },
      new UiChunkEncoder(frame.requestId),
    );
  }

  #rejectIfBusy(requestId: string | undefined, aiSdk: boolean): boolean {
    if (!this.#active) return false;
    const message =
      `Cannot start: answer "${this.#active.requestId}" is still streaming on this socket; cancel it or wait for "done"`;
    if (aiSdk && requestId) this.#aiSdkError(requestId, ErrorCode.Busy, message);
    else this.#error(ErrorCode.Busy, message, requestId);
    return true;
  }

  /** Makes `encoder`'s frames for answer `answerId` this socket's active turn. */
  #attach(requestId: string, answerId: string, encoder: FrameEncoder): ActiveTurn {
    const send = this.#send;
    const high = this.#config.WS_HIGH_WATER_BYTES;
    const buffered = this.#buffered;
    const { promise: done, resolve } = Promise.withResolvers<void>();
    let unchecked = 0;
    const turn: ActiveTurn = {
      requestId,
      answerId,
      tail: new AbortController(),
      done,
      subscriber: {
        deliver: (item) => {
          encoder.write(item.event, send);
          if (isFinal(item.event)) turn.finish();
          // Reading bufferedAmount is a call into the runtime: do it every few frames.
          else if (++unchecked >= BUFFER_CHECK_EVERY) {
            unchecked = 0;
            if (buffered() > high) return this.#drained(turn);
          }
        },
      },
      finish: () => {
        if (this.#active === turn) this.#active = undefined;
        resolve();
      },
    };
    this.#active = turn;
    return turn;
  }

  #start(
    request: { query: string; sessionId?: string; requestId?: string; attachments?: Attachment[] },
    encoder: FrameEncoder,
  ): void {
    const requestId = request.requestId ?? newId();
    const sessionId = request.sessionId ?? newId();
    const turn = this.#attach(requestId, requestId, encoder);
    turn.producer = this.#hub.start(
      { ...request, requestId, sessionId },
      turn.subscriber,
      this.#identity,
    );
  }

  /**
   * Resolves once the socket's buffer fell to half the high-water mark, or
   * closes it 4008 when it stays stalled past `STALL_TIMEOUT_MS`.
   */
  #drained(turn: ActiveTurn): Promise<void> {
    const low = this.#config.WS_HIGH_WATER_BYTES / 2;
    const deadline = Date.now() + this.#config.STALL_TIMEOUT_MS;
    return new Promise<void>((resolve) => {
      const check = () => {
        if (this.#closed || this.#active !== turn || this.#buffered() <= low) return resolve();
        if (Date.now() >= deadline) {
          this.#shut(
            CloseCode.SlowConsumer,
            `Slow consumer: not reading for ${this.#config.STALL_TIMEOUT_MS} ms`,
            new TurnStop(ErrorCode.Timeout, "The client stopped reading"),
          );
          return resolve();
        }
        setTimeout(check, DRAIN_POLL_MS);
      };
      setTimeout(check, DRAIN_POLL_MS);
    });
  }

  #announceUpload(frame: UploadFrame): void {
    if (this.#upload) {
      this.#uploadError(
        ErrorCode.UploadInvalid,
        `Cannot start upload "${frame.upload_id}": upload "${this.#upload.assembler.header.uploadId}" is not complete`,
        frame.upload_id,
      );
      return;
    }
    const header = {
      uploadId: frame.upload_id,
      name: frame.name,
      mime: frame.mime,
      size: frame.size,
    };
    try {
      checkHeader(header, this.#config.UPLOAD_MAX_BYTES);
    } catch (error) {
      if (!(error instanceof UploadError)) throw error;
      this.#uploadError(error.code, error.message, frame.upload_id);
      return;
    }
    this.#upload = {
      assembler: new UploadAssembler(header),
      sessionId: frame.session_id ?? newId(),
    };
  }

  async #receiveBinary(data: unknown): Promise<void> {
    const bytes = await bytesOf(data);
    if (this.#closed || !bytes) return;
    if (bytes.byteLength > this.#config.MAX_FRAME_BYTES) {
      this.#tooLarge();
      return;
    }
    const upload = this.#upload;
    if (!upload) {
      this.#error(
        ErrorCode.BinaryUnsupported,
        "Cannot accept a binary frame: announce the file with an upload frame first",
      );
      return;
    }
    try {
      const stored = upload.assembler.push(bytes);
      if (!stored) return;
      this.#upload = undefined;
      await this.#uploads.save(upload.sessionId, stored);
      this.#send(JSON.stringify(
        {
          type: "uploaded",
          upload_id: stored.uploadId,
          session_id: upload.sessionId,
          name: stored.name,
          mime: stored.mime,
          size: stored.size,
        } satisfies ServerFrame,
      ));
    } catch (error) {
      this.#upload = undefined;
      const uploadId = upload.assembler.header.uploadId;
      if (error instanceof UploadError) {
        this.#uploadError(error.code, error.message, uploadId);
        return;
      }
      this.#log.error("Cannot store upload", { error });
      this.#uploadError(
        ErrorCode.UploadInvalid,
        "Cannot store the upload; please try again",
        uploadId,
      );
    }
  }

  #error(code: ErrorCode, message: string, requestId?: string): void {
    this.#send(JSON.stringify(
      { type: "error", code, message, request_id: requestId } satisfies ServerFrame,
    ));
  }

  /** An error about an upload names it, so the client knows which file failed. */
  #uploadError(code: ErrorCode, message: string, uploadId: string): void {
    this.#send(JSON.stringify(
      { type: "error", code, message, upload_id: uploadId } satisfies ServerFrame,
    ));
  }

  #aiSdkError(requestId: string, code: ErrorCode, message: string): void {
    this.#send(JSON.stringify(
      { type: "error", requestId, errorText: message, code } satisfies AiSdkServerFrame,
    ));
  }
}

/** Close reasons must fit in 123 bytes. */
function truncateReason(reason: string): string {
  return reason.length <= 120 ? reason : reason.slice(0, 117) + "...";
}

/** The `/ws/chat` upgrade handler. */
export function wsHandler(
  deps: WsDeps & { upgradeWebSocket: UpgradeWebSocket; registry: ConnectionRegistry },
): MiddlewareHandler<GuardEnv> {
  const options = { idleTimeout: deps.config.WS_IDLE_TIMEOUT_S };
  return deps.upgradeWebSocket((c) => {
    const identity = c.get("identity") as string | undefined;
    const rejection = c.get("rejection") as Rejection | undefined;
    const lease = c.get("lease") as Lease | undefined;
    if (c.req.header("upgrade") === "websocket") lease?.hold();
    let connection: WsConnection | undefined;
    let unregister: (() => void) | undefined;
    const get = (ws: WSContext) => {
      if (!connection) {
        connection = new WsConnection(deps, ws, { identity });
        unregister = deps.registry.add(connection);
      }
      return connection;
    };
    const end = (code?: number) => {
      connection?.close(code);
      unregister?.();
      lease?.release();
    };
    return {
      onOpen: (_event, ws) => {
        const opened = get(ws);
        if (rejection) opened.reject(rejection);
      },
      onMessage: (event, ws) => get(ws).receive(event.data),
      onClose: (event) => end(event.code),
      onError: () => end(),
    };
  }, options);
}
