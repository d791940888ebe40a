/**
 * An `EventSource` over `fetch`: the same events, states and reconnect
 * (after the server's `retry:`, with `Last-Event-ID`), plus what a native
 * EventSource hides: why the server refused the stream. A non-200 answer
 * (a 429 over the answer budget, a 401, a 409...) closes it for good, as
 * EventSource does, with {@link FetchEventSource.refusal} set from the
 * response's status, JSON error body and `Retry-After`. Built as its own
 * bundle, loaded when the SSE pipe first asks.
 * @module
 */
import { createParser } from "eventsource-parser";
import { ErrorCode } from "../../protocol/codes.ts";
import { EventSourceState } from "./types.ts";

/** Why the server refused a stream: its status and its JSON error body's fields. */
export interface StreamRefusal {
  status: number;
  /** The error `code` (e.g. `rate_limited`); by the status when the body has no known code. */
  code: ErrorCode;
  /** The server's message, with the wait spelled out: "… (try again in 2 s)". */
  message: string;
  /** Seconds to wait before trying again (`retry_after`, else the `Retry-After` header). */
  retryAfter?: number;
}

/** The reconnect delay until the server sends `retry:`, as browsers use. */
const DEFAULT_RETRY_MS = 3_000;

/** An EventSource built on `fetch` (the subset the SSE pipe uses). */
export class FetchEventSource {
  /** The stream's URL. */
  readonly url: string;
  /** {@link EventSourceState}. */
  readyState: number = EventSourceState.Connecting;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  /** Set when the server refused the stream (then {@link readyState} is closed). */
  refusal: StreamRefusal | undefined;
  #fetch: typeof fetch;
  #abort = new AbortController();
  #lastEventId = "";
  #retryMs = DEFAULT_RETRY_MS;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Connects at once, like `new EventSource(url)`. */
  constructor(url: string, options: { fetch?: typeof fetch } = {}) {
    this.url = url;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    void this.#connect();
  }

  /** Closes the stream for good. */
  close(): void {
    this.readyState = EventSourceState.Closed;
    clearTimeout(this.#timer);
    this.#abort.abort();
  }

  async #connect(): Promise<void> {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (this.#lastEventId) headers["last-event-id"] = this.#lastEventId;
    let response: Response;
    try {
      response = await this.#fetch(this.url, {
        headers,
        cache: "no-store",
        credentials: "same-origin",
        signal: this.#abort.signal,
      });
    } catch {
      return this.#reconnect();
    }
    if (this.readyState === EventSourceState.Closed) return void response.body?.cancel();
    const type = response.headers.get("content-type") ?? "";
    if (response.status !== 200 || !type.startsWith("text/event-stream")) {
      this.refusal = await refusalOf(response);
      this.readyState = EventSourceState.Closed;
      this.onerror?.(new Event("error"));
      return;
    }
    this.readyState = EventSourceState.Open;
    this.onopen?.(new Event("open"));
    await this.#read(response);
    this.#reconnect();
  }

  /** Dispatches the events of one response until it ends or fails. */
  async #read(response: Response): Promise<void> {
    const parser = createParser({
      onEvent: (event) => {
        if (event.id !== undefined) this.#lastEventId = event.id;
        // Named events go to addEventListener listeners, which this subset has none of.
        if (this.readyState !== EventSourceState.Open || (event.event ?? "message") !== "message") {
          return;
        }
        this.onmessage?.(
          new MessageEvent("message", { data: event.data, lastEventId: this.#lastEventId }),
        );
      },
      onRetry: (ms) => (this.#retryMs = ms),
    });
    // A reader loop, not `for await`: not every browser iterates streams.
    const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
    try {
      while (reader) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
    } catch {
      // A drop: reconnect as EventSource does.
    }
  }

  /** The stream ended or failed: reconnect after the retry delay, unless closed. */
  #reconnect(): void {
    if (this.readyState === EventSourceState.Closed) return;
    this.readyState = EventSourceState.Connecting;
    this.onerror?.(new Event("error"));
    if (this.readyState === EventSourceState.Closed) return;
    this.#timer = setTimeout(() => void this.#connect(), this.#retryMs);
  }
}

const CODES: readonly string[] = Object.values(ErrorCode);

/** The refusal a non-200 response carries (the service's `{ error: { code, message } }` shape). */
async function refusalOf(response: Response): Promise<StreamRefusal> {
  const { status, headers } = response;
  const body = await response.json().catch(() => undefined) as {
    error?: { code?: unknown; message?: unknown; retry_after?: unknown };
  } | undefined;
  const { code, message, retry_after: seconds } = body?.error ?? {};
  const header = Number(headers.get("retry-after"));
  const retryAfter = typeof seconds === "number"
    ? seconds
    : Number.isFinite(header) && header > 0
    ? header
    : undefined;
  const text = typeof message === "string"
    ? message
    : `The server refused the stream (HTTP ${status})`;
  return {
    status,
    code: typeof code === "string" && CODES.includes(code)
      ? code as ErrorCode
      : status === 429
      ? ErrorCode.RateLimited
      : ErrorCode.Internal,
    message: retryAfter === undefined ? text : `${text} (try again in ${retryAfter} s)`,
    retryAfter,
  };
}
