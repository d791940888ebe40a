/**
 * Projects core events onto wire frames: the native (seed) dialect and the
 * AI SDK dialect. One encoder per answer; it owns the sequence numbers.
 * The frame shapes are declared in `protocol/frames.ts`.
 * @module
 */
import type { AiSdkServerFrame, ServerFrame } from "../protocol/frames.ts";
import type { CoreEvent } from "./core.ts";
import type { LoggedEvent } from "./store/types.ts";

/** Text that `JSON.stringify` would write back unchanged between its quotes. */
// Control characters are what the pattern is about: JSON escapes them.
// deno-lint-ignore no-control-regex
const PLAIN_JSON_TEXT = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/**
 * What `JSON.stringify(text)` writes between its quotes. A chunk of plain
 * text (the usual delta) is that text itself, which costs a third of
 * serialising it (a regular-expression scan against ~100 ns per chunk,
 * measured with `Deno.bench`) and no copy; quotes, backslashes, control
 * characters and surrogates (lone ones are escaped) go through
 * `JSON.stringify`.
 */
export function jsonStringBody(text: string): string {
  return PLAIN_JSON_TEXT.test(text) ? text : JSON.stringify(text).slice(1, -1);
}

/** Turns the events of one answer into text frames. */
export interface FrameEncoder {
  /** Encodes one event (with its `seq` in the answer) into zero or more frames, handed to `send`. */
  write(item: LoggedEvent, send: (frame: string) => void): void;
}

/**
 * Native dialect: every frame carries `request_id` and `seq`, the event's
 * own sequence number in the answer (never a count of frames written, so a
 * resume from the log says exactly which event each frame is). `lastSeq` is
 * the `seq` of the last frame written.
 */
export class NativeEncoder implements FrameEncoder {
  #requestId = "";
  /** `,"request_id":"…","seq":`, serialised once per answer (the hot path). */
  #idSuffix = "";
  /** Sequence number of the last frame written (-1 before the first). */
  lastSeq = -1;

  /**
   * A fresh encoder starts at the `start` event. To resume an answer after
   * `lastSeq`, pass its request id and that sequence number.
   */
  constructor(resume?: { requestId: string; lastSeq: number }) {
    if (resume) {
      this.#answering(resume.requestId);
      this.lastSeq = resume.lastSeq;
    }
  }

  /** Frames from now on belong to answer `requestId`. */
  #answering(requestId: string): void {
    this.#requestId = requestId;
    this.#idSuffix = `,"request_id":"${jsonStringBody(requestId)}","seq":`;
  }

  /** Encodes one event into exactly one frame. */
  encode(item: LoggedEvent): string {
    const { event, seq } = item;
    this.lastSeq = seq;
    if (event.type === "text-delta") {
      // Same frame as `ContentFrame`, built without an intermediate object
      // or string: the text goes between the frame's own quotes.
      const content = jsonStringBody(event.delta);
      return event.ts === undefined
        ? `{"type":"content","content":"${content}"${this.#idSuffix}${seq}}`
        : `{"type":"content","content":"${content}","ts":${event.ts}${this.#idSuffix}${seq}}`;
    }
    if (event.type === "start") {
      // `SessionFrame`, built like a content frame: it is on the way to the first chunk.
      this.#answering(event.requestId);
      return `{"type":"session","session_id":"${
        jsonStringBody(event.sessionId)
      }"${this.#idSuffix}${seq}}`;
    }
    const request_id = this.#requestId;
    let frame: ServerFrame;
    switch (event.type) {
      case "status":
        frame = { type: "status", message: event.message, request_id, seq };
        break;
      case "tool-call":
        frame = {
          type: "tool_call",
          tool_call_id: event.toolCallId,
          name: event.toolName,
          input: event.input,
          request_id,
          seq,
        };
        break;
      case "tool-result":
        frame = {
          type: "tool_result",
          tool_call_id: event.toolCallId,
          name: event.toolName,
          output: event.output,
          is_error: event.isError,
          request_id,
          seq,
        };
        break;
      case "finish":
        frame = {
          type: "done",
          finish_reason: event.reason,
          cancelled: event.reason === "cancelled" ? true : undefined,
          request_id,
          seq,
        };
        break;
      case "error":
        frame = {
          type: "error",
          code: event.code,
          message: event.message,
          request_id,
          seq,
        };
        break;
    }
    return JSON.stringify(frame);
  }

  /** {@link FrameEncoder.write} for the native dialect. */
  write(item: LoggedEvent, send: (frame: string) => void): void {
    send(this.encode(item));
  }
}

/**
 * AI SDK dialect: UI message chunks (`start`, `text-start`/`-delta`/`-end`,
 * tool parts, `data-status`, `finish`) wrapped in `chunk` frames with a
 * monotonic `sequence`, closed by `end` (or `error`).
 */
export class UiChunkEncoder implements FrameEncoder {
  #requestId: string;
  #sequence = 0;
  #skipThrough: number;
  #http: boolean;
  #textId: string | undefined;
  #textCount = 0;

  /**
   * Creates an encoder answering the AI SDK request `requestId`. A resume
   * replays from the answer's first event; `skipThrough` drops the chunks
   * the client already has (sequence numbers up to it). `http`: bare UI
   * message chunks for the HTTP transport's event stream (`data:` lines),
   * instead of the WebSocket transport's `chunk`/`end` frames.
   */
  constructor(requestId: string, options: { skipThrough?: number; http?: boolean } = {}) {
    this.#requestId = requestId;
    this.#skipThrough = options.skipThrough ?? -1;
    this.#http = options.http ?? false;
  }

  /** The frame of one chunk, or undefined when the client already has it. */
  #chunk(chunk: Record<string, unknown> & { type: string }): string | undefined {
    const sequence = this.#sequence++;
    if (sequence <= this.#skipThrough) return undefined;
    if (this.#http) return JSON.stringify(chunk);
    const frame: AiSdkServerFrame = { type: "chunk", requestId: this.#requestId, sequence, chunk };
    return JSON.stringify(frame);
  }

  #endText(send: (frame: string) => void): void {
    if (this.#textId === undefined) return;
    this.#send(send, { type: "text-end", id: this.#textId });
    this.#textId = undefined;
  }

  #send(send: (frame: string) => void, chunk: Record<string, unknown> & { type: string }): void {
    const frame = this.#chunk(chunk);
    if (frame !== undefined) send(frame);
  }

  /** {@link FrameEncoder.write} for the AI SDK dialect. */
  write({ event }: LoggedEvent, send: (frame: string) => void): void {
    switch (event.type) {
      case "text-delta":
        if (this.#textId === undefined) {
          this.#textId = `text-${this.#textCount++}`;
          this.#send(send, { type: "text-start", id: this.#textId });
        }
        this.#send(send, { type: "text-delta", id: this.#textId, delta: event.delta });
        return;
      case "start":
        this.#send(send, { type: "start", messageId: event.requestId });
        this.#send(send, {
          type: "data-session",
          data: { sessionId: event.sessionId },
          transient: true,
        });
        return;
      case "status":
        this.#send(
          send,
          { type: "data-status", data: { message: event.message }, transient: true },
        );
        return;
      case "tool-call":
        this.#endText(send);
        this.#send(send, {
          type: "tool-input-available",
          toolCallId: event.toolCallId,
          toolName: event.toolName,
          input: event.input,
          dynamic: true,
        });
        return;
      case "tool-result":
        this.#endText(send);
        this.#send(
          send,
          event.isError
            ? {
              type: "tool-output-error",
              toolCallId: event.toolCallId,
              errorText: String(event.output),
              dynamic: true,
            }
            : {
              type: "tool-output-available",
              toolCallId: event.toolCallId,
              output: event.output,
              dynamic: true,
            },
        );
        return;
      case "finish":
      case "error":
        this.#endText(send);
        this.#end(event, send);
        return;
    }
  }

  /** The last frames of an answer: `abort`/`finish` then `end`, or an `error` frame. */
  #end(
    event: Extract<CoreEvent, { type: "finish" | "error" }>,
    send: (frame: string) => void,
  ): void {
    const requestId = this.#requestId;
    if (event.type === "error" && this.#http) {
      // The UI message stream's own error chunk; the stream then ends.
      send(JSON.stringify({ type: "error", errorText: event.message }));
      return;
    }
    if (event.type === "error") {
      send(JSON.stringify(
        {
          type: "error",
          requestId,
          errorText: event.message,
          code: event.code,
        } satisfies AiSdkServerFrame,
      ));
      return;
    }
    this.#send(
      send,
      event.reason === "cancelled"
        ? { type: "abort", reason: "cancelled" }
        : { type: "finish", finishReason: "stop" },
    );
    // Over HTTP the stream's end (`[DONE]`) is the transport's.
    if (!this.#http) send(JSON.stringify({ type: "end", requestId } satisfies AiSdkServerFrame));
  }
}
