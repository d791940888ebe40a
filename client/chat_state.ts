/**
 * The chat's state as signals, and the controller that drives a transport.
 *
 * Free of DOM and wire code so it runs under `deno test` with a fake
 * transport; the islands render these signals.
 * @module
 */
import { batch, computed, type Signal, signal } from "@preact/signals";
import type { FinishReason } from "../protocol/codes.ts";
import type { ServerFrame } from "../protocol/frames.ts";
import type { AnswerHandle, ChatTransport, ConnectionState, TransportKind } from "./transport.ts";

/** One finished turn as the server renders it (island props). */
export interface HistoryTurn {
  query: string;
  answer: string;
  finishReason: FinishReason;
  tools: string[];
}

/** A status line or a tool call shown inline with an answer. */
export type Activity =
  | { kind: "status"; message: string }
  | {
    kind: "tool";
    id: string;
    name: string;
    input: unknown;
    output?: unknown;
    isError?: boolean;
    done: boolean;
  };

/** How a message stands. */
export type MessageState = "streaming" | FinishReason;

/** One question and its answer. */
export interface Message {
  /** The request id (or `h<n>` for server-rendered history). */
  id: string;
  query: string;
  /** The answer text so far (markdown). */
  text: Signal<string>;
  activity: Signal<Activity[]>;
  state: Signal<MessageState>;
  /** Why the answer ended with an error, if it did. */
  error: Signal<string | undefined>;
  /** Tool names, for history turns that carry no activity. */
  tools: string[];
  /** Which transport carried it; absent for history. */
  transport?: TransportKind;
}

/** Browser-measured numbers of one answer. */
export interface AnswerMetrics {
  transport: TransportKind;
  /** Time from send to the first `content` frame, in ms. */
  ttfcMs?: number;
  /** Number of `content` frames. */
  chunks: number;
  /** Content frames per second between the first and the last chunk. */
  chunksPerSec?: number;
  /** True while the answer streams. */
  live: boolean;
}

/** Metrics of recent answers, shared by every island on the page. */
export const metrics: Signal<AnswerMetrics[]> = signal([]);

/** How the controller persists the session id and transport choice. */
export interface Persistence {
  saveSession(id: string): void;
  saveTransport(kind: TransportKind): void;
}

/** Options for {@link ChatController}. */
export interface ChatControllerOptions {
  /** The server-rendered history. */
  history?: HistoryTurn[];
  sessionId?: string;
  transport: TransportKind;
  createTransport(kind: TransportKind): ChatTransport;
  /** Fresh ids for requests and sessions; default `crypto.randomUUID`. */
  newId?: () => string;
  /** A monotonic clock in ms; default `performance.now`. */
  now?: () => number;
  persistence?: Persistence;
  /** The metrics signal to write; default the shared {@link metrics}. */
  metrics?: Signal<AnswerMetrics[]>;
}

/** Most answers kept in {@link metrics}. */
const METRICS_KEPT = 40;

/** Creates a message with fresh signals. */
export function createMessage(
  init: Partial<Omit<Message, "text" | "activity" | "state" | "error">> & {
    id: string;
    query: string;
    text?: string;
    state?: MessageState;
    error?: string;
  },
): Message {
  return {
    id: init.id,
    query: init.query,
    text: signal(init.text ?? ""),
    activity: signal([]),
    state: signal(init.state ?? "streaming"),
    error: signal(init.error),
    tools: init.tools ?? [],
    transport: init.transport,
  };
}

/** Drives one chat: sends questions, folds frames into signals. */
export class ChatController {
  /** Every message, oldest first. */
  readonly messages: Signal<Message[]>;
  /** The session id, once known. */
  readonly sessionId: Signal<string | undefined>;
  /** The selected transport. */
  readonly transportKind: Signal<TransportKind>;
  /** The connection state of the current transport. */
  readonly connection: Signal<ConnectionState>;
  /** The message that is streaming, if any. */
  readonly current: Signal<Message | undefined> = signal(undefined);
  /** True while an answer streams. */
  readonly busy = computed(() => this.current.value !== undefined);
  #transport: ChatTransport | undefined;
  #unsubscribe: (() => void) | undefined;
  #handle: AnswerHandle | undefined;
  #end: ((state: FinishReason, error?: string) => void) | undefined;
  #create: (kind: TransportKind) => ChatTransport;
  #newId: () => string;
  #now: () => number;
  #persist: Persistence | undefined;
  #metrics: Signal<AnswerMetrics[]>;

  /** Creates the controller; call {@link start} in the browser to connect. */
  constructor(options: ChatControllerOptions) {
    this.messages = signal(
      (options.history ?? []).map((turn, i) =>
        createMessage({
          id: `h${i}`,
          query: turn.query,
          text: turn.answer,
          state: turn.finishReason,
          tools: turn.tools,
        })
      ),
    );
    this.sessionId = signal(options.sessionId);
    this.transportKind = signal(options.transport);
    this.connection = signal<ConnectionState>("idle");
    this.#create = options.createTransport;
    this.#newId = options.newId ?? (() => crypto.randomUUID());
    this.#now = options.now ?? (() => performance.now());
    this.#persist = options.persistence;
    this.#metrics = options.metrics ?? metrics;
  }

  /** Opens the selected transport. */
  start(): void {
    this.#open(this.transportKind.value);
  }

  /** Closes the transport. */
  dispose(): void {
    this.#handle?.cancel();
    this.#unsubscribe?.();
    this.#transport?.close();
    this.#transport = undefined;
  }

  /** Switches transport; a running answer is stopped and ends as cancelled. */
  setTransport(kind: TransportKind): void {
    this.#persist?.saveTransport(kind);
    if (kind === this.transportKind.value && this.#transport) return;
    this.stop();
    this.#end?.("cancelled");
    this.transportKind.value = kind;
    this.#open(kind);
  }

  /**
   * Sends a question. Returns false (and sends nothing) when the text is
   * blank or an answer is still streaming.
   */
  send(text: string): boolean {
    const query = text.trim();
    if (!query || this.current.value) return false;
    if (!this.#transport) this.#open(this.transportKind.value);
    const transport = this.#transport!;
    let sessionId = this.sessionId.value;
    if (!sessionId) {
      sessionId = this.#newId();
      this.sessionId.value = sessionId;
      this.#persist?.saveSession(sessionId);
    }
    const requestId = this.#newId();
    const kind = transport.kind;
    const message = createMessage({ id: requestId, query, transport: kind });
    const sample: AnswerMetrics = { transport: kind, chunks: 0, live: true };
    const started = this.#now();
    let first = 0;
    let last = 0;
    const publish = () => {
      const list = this.#metrics.value.filter((m) => m !== sampleRef.value);
      sampleRef.value = { ...sample };
      this.#metrics.value = [...list, sampleRef.value].slice(-METRICS_KEPT);
    };
    const sampleRef: { value: AnswerMetrics | undefined } = {
      value: undefined,
    };
    const finish = (state: FinishReason, error?: string) => {
      if (this.current.value !== message) return;
      batch(() => {
        message.state.value = state;
        message.error.value = error;
        if (sample.chunks > 1 && last > first) {
          sample.chunksPerSec = (sample.chunks - 1) / ((last - first) / 1000);
        }
        sample.live = false;
        publish();
        this.current.value = undefined;
      });
      this.#handle = undefined;
      this.#end = undefined;
    };
    this.#end = finish;
    batch(() => {
      this.messages.value = [...this.messages.value, message];
      this.current.value = message;
      publish();
    });
    this.#handle = transport.ask({ query, sessionId, requestId }, {
      frame: (frame) =>
        this.#apply(message, frame, {
          content: () => {
            const t = this.#now();
            if (sample.chunks === 0) {
              first = t;
              sample.ttfcMs = t - started;
            }
            last = t;
            sample.chunks++;
            publish();
          },
          finish,
        }),
      lost: (reason) => finish("error", reason),
    });
    return true;
  }

  /** Stops the streaming answer, if any. */
  stop(): void {
    this.#handle?.cancel();
  }

  /**
   * Starts a new session with an empty message list. A running answer is
   * stopped; it stays `busy` until the server confirms, so the next question
   * does not race the cancel.
   */
  newChat(): void {
    this.stop();
    const id = this.#newId();
    batch(() => {
      this.sessionId.value = id;
      this.messages.value = [];
    });
    this.#persist?.saveSession(id);
  }

  #open(kind: TransportKind): void {
    this.#unsubscribe?.();
    this.#transport?.close();
    const transport = this.#create(kind);
    this.#transport = transport;
    this.connection.value = transport.state;
    this.#unsubscribe = transport.subscribe((state) => {
      if (this.#transport === transport) this.connection.value = state;
    });
  }

  #apply(
    message: Message,
    frame: ServerFrame,
    on: {
      content(): void;
      finish(state: FinishReason, error?: string): void;
    },
  ): void {
    switch (frame.type) {
      case "session":
        if (frame.session_id !== this.sessionId.value) {
          this.sessionId.value = frame.session_id;
          this.#persist?.saveSession(frame.session_id);
        }
        break;
      case "content":
        message.text.value += frame.content;
        on.content();
        break;
      case "status":
        message.activity.value = [
          ...message.activity.value,
          { kind: "status", message: frame.message },
        ];
        break;
      case "tool_call":
        message.activity.value = [...message.activity.value, {
          kind: "tool",
          id: frame.tool_call_id,
          name: frame.name,
          input: frame.input,
          done: false,
        }];
        break;
      case "tool_result":
        message.activity.value = message.activity.value.map((a) =>
          a.kind === "tool" && a.id === frame.tool_call_id
            ? {
              ...a,
              output: frame.output,
              isError: frame.is_error,
              done: true,
            }
            : a
        );
        break;
      case "done":
        on.finish(frame.finish_reason);
        break;
      case "error":
        on.finish("error", frame.message);
        break;
    }
  }
}
