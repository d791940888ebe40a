/**
 * The SSE pipe: one event source per answer (`GET /agent_chat_stream`),
 * reconnecting by itself with `Last-Event-ID` mid-answer, and a `/healthz`
 * probe with backoff after a drop it cannot recover from. The page's source
 * is a `FetchEventSource` (`fetch_event_source.ts`: EventSource semantics
 * over `fetch`, its own bundle loaded on first use) so a refusal before the
 * stream starts (429 over the answer budget, with `retry_after`) reaches
 * the user as that error, not as a lost connection.
 * Dedupe, cancel, interruption and the resume deadline belong to the
 * shared {@link Answers}.
 * @module
 */
import { ErrorCode, SSE_CANCEL_PATH, SSE_PATH } from "../../protocol/codes.ts";
import { decodeFrame } from "../codec.ts";
import type { StreamRefusal } from "./fetch_event_source.ts";
import {
  type Answer,
  type SessionOptions,
  type SettleReason,
  TransportSession,
} from "./session.ts";
import {
  type AnswerHandle,
  type AnswerHandlers,
  type Ask,
  type ChatTransport,
  EventSourceState,
  LOST_MESSAGE,
  type Uploaded,
} from "./types.ts";
import { UploadFailed } from "./uploads.ts";

/** What the pipe uses of an event source: EventSource's, plus why the server refused it. */
export type StreamSource =
  & Pick<EventSource, "url" | "readyState" | "onopen" | "onmessage" | "onerror" | "close">
  & { readonly refusal?: StreamRefusal };

/** A constructor of {@link StreamSource}s. */
export type StreamSourceClass = new (url: string) => StreamSource;

/** Options for {@link SseTransport}. */
export interface SseTransportOptions extends SessionOptions {
  /** The origin to talk to, e.g. `http://host:8000`. */
  baseUrl: string;
  /** The event source constructor, used at once. */
  EventSource?: StreamSourceClass;
  /**
   * Loads the event source constructor on first use (the page's
   * `FetchEventSource` bundle). Neither given, or the load failed: the
   * browser's `EventSource` (whose refusals read as a lost connection).
   */
  loadEventSource?: () => Promise<StreamSourceClass>;
  /** Used to probe the server after a drop; default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/**
 * An SSE transport: one `EventSource` per answer (`GET /agent_chat_stream`).
 *
 * SSE cannot carry a `cancel`, and closing the stream is a drop the server
 * keeps the answer running through (for a resume), so cancelling POSTs
 * the answer's `request_id` (chosen here and sent with the question) to
 * `/agent_chat_stream/cancel`, closes the stream and ends the answer locally.
 * When the stream drops mid-answer, the browser's own reconnect sends
 * `Last-Event-ID` (`<request_id>:<seq>`) and the server sends the rest of
 * the answer; the stream is closed on `done`/`error` (and on a drop before
 * the first event), so the browser never asks the same question again.
 * After a drop it cannot recover from, it probes `/healthz` with backoff and
 * reports `reconnecting` until the server answers.
 */
export class SseTransport extends TransportSession implements ChatTransport {
  /** Always `"sse"`. */
  readonly kind = "sse" as const;
  /** SSE has no upload channel. */
  readonly canUpload = false;
  #base: string;
  #Ctor: StreamSourceClass | undefined;
  #load: Promise<StreamSourceClass> | undefined;
  #loader: (() => Promise<StreamSourceClass>) | undefined;
  #fetch: typeof fetch;
  #open = new Set<StreamSource>();
  #probeTimer: unknown;
  #closed = false;

  /** Creates the transport; nothing connects until the first question. */
  constructor(options: SseTransportOptions) {
    super("idle", options);
    this.#base = options.baseUrl.replace(/\/$/, "");
    this.#Ctor = options.EventSource ??
      (options.loadEventSource ? undefined : globalThis.EventSource);
    this.#loader = options.loadEventSource;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  upload(): Promise<Uploaded> {
    return Promise.reject(
      new UploadFailed(ErrorCode.Unsupported, "Attaching files needs the WebSocket transport"),
    );
  }

  ask(ask: Ask, handlers: AnswerHandlers): AnswerHandle {
    const params = new URLSearchParams({ query: ask.query, request_id: ask.requestId });
    if (ask.sessionId) params.set("session_id", ask.sessionId);
    if (ask.keepTurns !== undefined) params.set("keep_turns", String(ask.keepTurns));
    const url = `${this.#base}${SSE_PATH}?${params}`;
    let source: StreamSource | undefined;
    if (this.state !== "reconnecting") this.setState("connecting");
    const answer = this.answers.open(ask.requestId, handlers, {
      phase: "streaming",
      onSettle: (reason) => {
        if (reason === "cancel") this.#cancelOnServer(ask.requestId);
        this.#end(source, reason);
      },
    });
    const live = () => this.answers.get(answer.requestId) === answer;
    const listen = (opened: StreamSource) => {
      source = opened;
      this.#open.add(opened);
      opened.onopen = () => {
        if (live()) this.#back(answer);
      };
      opened.onmessage = (event: MessageEvent) => {
        if (live()) this.#receive(answer, String(event.data));
      };
      opened.onerror = () => {
        if (live()) this.#dropped(answer, opened);
      };
    };
    if (!this.authorize && this.#Ctor) listen(new this.#Ctor(url));
    else {
      // The ticket rides in the URL; the source's own reconnect reuses it while it is valid.
      Promise.all([this.#source(), this.authorize ? this.authorize(url) : url]).then(
        ([Source, target]) => live() && !this.#closed && listen(new Source(target)),
        (error) => live() && this.answers.lose(answer, error.message),
      );
    }
    return { requestId: ask.requestId, cancel: () => this.answers.cancel(answer) };
  }

  /** The event source constructor, loaded once (the browser's EventSource if the load fails). */
  #source(): Promise<StreamSourceClass> {
    if (this.#Ctor) return Promise.resolve(this.#Ctor);
    this.#load ??= this.#loader!().catch((error) => {
      console.warn(`Cannot load the SSE event source, using EventSource: ${error}`);
      return globalThis.EventSource;
    });
    return this.#load;
  }

  close(): void {
    this.#closed = true;
    if (this.#probeTimer !== undefined) this.timers.clearTimeout(this.#probeTimer);
    for (const source of this.#open) source.close();
    this.#open.clear();
    this.setState("closed");
  }

  /** Asks the server to stop the answer; a failure (already over, offline) is harmless. */
  #cancelOnServer(requestId: string): void {
    const post = (url: string) =>
      this.#fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ request_id: requestId }),
        keepalive: true,
      }).then((res) => res.body?.cancel(), () => {});
    const url = `${this.#base}${SSE_CANCEL_PATH}`;
    if (!this.authorize) void post(url);
    else this.authorize(url).then(post, () => {});
  }

  #receive(answer: Answer, text: string): void {
    const decoded = decodeFrame(text);
    if (!decoded.ok) {
      console.warn(decoded.message);
      return;
    }
    const frame = decoded.frame;
    if (frame.type === "pong" || frame.type === "uploaded") return;
    if (!answer.seq.admit(frame)) return;
    if (this.state === "reconnecting") this.#back(answer);
    this.connected();
    this.answers.settle(answer, frame);
  }

  /** The stream is back (or a frame came through): the resume deadline stops. */
  #back(answer: Answer): void {
    this.answers.resume(answer);
    if (this.#probeTimer === undefined) this.setState("open");
  }

  #dropped(answer: Answer, source: StreamSource): void {
    const refusal = source.refusal;
    if (refusal) {
      // The server answered, with a refusal: that is the answer's error, no probe.
      this.answers.settle(answer, {
        type: "error",
        code: refusal.code,
        message: refusal.message,
        request_id: answer.requestId,
        retry_after: refusal.retryAfter,
      });
      return;
    }
    if (source.readyState !== EventSourceState.Closed && answer.seq.last >= 0) {
      // The browser reconnects by itself with Last-Event-ID; the server
      // resumes the answer after the last event we saw.
      this.setState("reconnecting");
      this.answers.suspend(answer, () => this.#probe());
      return;
    }
    // Closed for good, or dropped before the first event (a reconnect
    // without Last-Event-ID would ask the question again).
    this.answers.lose(answer, LOST_MESSAGE);
    this.#probe();
  }

  /** Closes an answer's stream once the answer left the book. */
  #end(source: StreamSource | undefined, reason: SettleReason): void {
    if (source) {
      source.close();
      this.#open.delete(source);
    }
    if (this.#open.size === 0 && this.state !== "reconnecting" && !this.#closed) {
      this.setState("idle");
    }
    if (reason === "cancel" && this.state === "reconnecting" && this.#probeTimer === undefined) {
      this.setState(this.#open.size > 0 ? "open" : "idle");
    }
  }

  #probe(): void {
    if (this.#closed || this.#probeTimer !== undefined) return;
    this.setState("reconnecting");
    const delay = this.nextDelay();
    this.#probeTimer = this.timers.setTimeout(async () => {
      let ok = false;
      try {
        const res = await this.#fetch(`${this.#base}/healthz`, { cache: "no-store" });
        await res.body?.cancel();
        ok = res.ok;
      } catch {
        ok = false;
      }
      this.#probeTimer = undefined;
      if (this.#closed) return;
      if (ok) {
        this.connected();
        this.setState(this.#open.size > 0 ? "open" : "idle");
      } else {
        this.#probe();
      }
    }, delay);
  }
}
