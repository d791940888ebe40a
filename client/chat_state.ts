/**
 * The chat's state as signals, and the controller that drives a transport.
 *
 * Free of DOM and wire code so it runs under `deno test` with a fake
 * transport; the islands render these signals.
 * @module
 */
import { batch, computed, type Signal, signal } from "@preact/signals";
import { type FinishReason, MAX_ATTACHMENTS } from "../protocol/codes.ts";
import type { ServerFrame } from "../protocol/frames.ts";
import type {
  AnswerHandle,
  ChatTransport,
  ConnectionState,
  TransportKind,
  UploadFile,
} from "./transport.ts";

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
  /** Names of the files sent with the question. */
  attachments?: string[];
}

/** How an attached file stands. */
export type AttachmentStatus = "uploading" | "ready" | "error";

/** A file attached to the next question, uploaded as soon as it is chosen. */
export interface Attachment {
  /** The upload id the query names. */
  id: string;
  name: string;
  /** Size in bytes. */
  size: number;
  status: Signal<AttachmentStatus>;
  /** Why the upload failed. */
  error: Signal<string | undefined>;
  /** Settles with true once stored, false when refused. */
  done: Promise<boolean>;
}

/** Default upload limit, the server's default `UPLOAD_MAX_BYTES`. */
export const UPLOAD_MAX_BYTES = 256 * 1024;

/** A byte count for people: `812 B`, `3.4 KB`, `1.2 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
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
  /** Largest file {@link ChatController.attach} uploads; default {@link UPLOAD_MAX_BYTES}. */
  uploadMaxBytes?: number;
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
    attachments: init.attachments,
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
  /** Files attached to the next question. */
  readonly attachments: Signal<Attachment[]> = signal([]);
  /** True when the selected transport can upload files (WebSocket). */
  readonly canAttach = computed(() =>
    this.transportKind.value === "ws" && this.attachments.value.length < MAX_ATTACHMENTS
  );
  /** True when an attachment failed: the question cannot go until it is removed. */
  readonly attachmentFailed = computed(() =>
    this.attachments.value.some((a) => a.status.value === "error")
  );
  #transport: ChatTransport | undefined;
  #unsubscribe: (() => void) | undefined;
  #handle: AnswerHandle | undefined;
  #end: ((state: FinishReason, error?: string) => void) | undefined;
  #create: (kind: TransportKind) => ChatTransport;
  #newId: () => string;
  #now: () => number;
  #persist: Persistence | undefined;
  #metrics: Signal<AnswerMetrics[]>;
  #uploadMax: number;

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
    this.#uploadMax = options.uploadMaxBytes ?? UPLOAD_MAX_BYTES;
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
    // Uploads live on the WebSocket; SSE cannot name them.
    if (kind !== "ws") this.attachments.value = [];
    this.transportKind.value = kind;
    this.#open(kind);
  }

  /**
   * Attaches a file to the next question and starts uploading it at once
   * (WebSocket only). Returns the attachment, or undefined when the
   * transport cannot upload or {@link MAX_ATTACHMENTS} are attached.
   */
  attach(file: UploadFile): Attachment | undefined {
    if (!this.canAttach.value) return undefined;
    const transport = this.#ensureTransport();
    if (!transport.canUpload) return undefined;
    const sessionId = this.#ensureSession();
    const id = this.#newId();
    const status = signal<AttachmentStatus>("uploading");
    const error = signal<string | undefined>(undefined);
    const fail = (message: string) => {
      batch(() => {
        error.value = message;
        status.value = "error";
      });
      return false;
    };
    const done = file.size > this.#uploadMax
      ? Promise.resolve(fail(
        `"${file.name}" is ${formatBytes(file.size)}; the limit is ${formatBytes(this.#uploadMax)}`,
      ))
      : transport.upload(file, { uploadId: id, sessionId }).then(
        () => {
          status.value = "ready";
          return true;
        },
        (reason: unknown) => fail(reason instanceof Error ? reason.message : String(reason)),
      );
    const attachment: Attachment = { id, name: file.name, size: file.size, status, error, done };
    this.attachments.value = [...this.attachments.value, attachment];
    return attachment;
  }

  /** Removes an attachment from the next question. */
  detach(id: string): void {
    this.attachments.value = this.attachments.value.filter((a) => a.id !== id);
  }

  #ensureTransport(): ChatTransport {
    if (!this.#transport) this.#open(this.transportKind.value);
    return this.#transport!;
  }

  #ensureSession(): string {
    let sessionId = this.sessionId.value;
    if (!sessionId) {
      sessionId = this.#newId();
      this.sessionId.value = sessionId;
      this.#persist?.saveSession(sessionId);
    }
    return sessionId;
  }

  /**
   * Sends a question with the attached files. Returns false (and sends
   * nothing) when the text is blank, an answer is still streaming or an
   * attachment failed to upload. Files still uploading are waited for.
   */
  send(text: string): boolean {
    const query = text.trim();
    if (!query || this.current.value || this.attachmentFailed.value) return false;
    const transport = this.#ensureTransport();
    const sessionId = this.#ensureSession();
    const requestId = this.#newId();
    const kind = transport.kind;
    const files = this.attachments.value;
    const message = createMessage({
      id: requestId,
      query,
      transport: kind,
      attachments: files.length ? files.map((a) => a.name) : undefined,
    });
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
      this.attachments.value = [];
      publish();
    });
    let lastSeq = -1;
    const ask = () => {
      this.#handle = transport.ask({
        query,
        sessionId,
        requestId,
        ...(files.length ? { attachments: files.map((a) => a.id) } : {}),
      }, {
        frame: (frame) => {
          // Both transports resume after a drop; never apply a frame twice.
          if ("seq" in frame && typeof frame.seq === "number") {
            if (frame.seq <= lastSeq) return;
            lastSeq = frame.seq;
          }
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
          });
        },
        lost: (reason) => finish("error", reason),
      });
    };
    const uploading = files.filter((a) => a.status.value === "uploading");
    if (uploading.length === 0) {
      ask();
      return true;
    }
    // Wait for the uploads; Stop meanwhile ends the question unsent.
    message.activity.value = [{
      kind: "status",
      message: `Uploading ${uploading.map((a) => a.name).join(", ")}…`,
    }];
    this.#handle = { requestId, cancel: () => finish("cancelled") };
    Promise.all(files.map((a) => a.done)).then(() => {
      if (this.current.value !== message) return;
      const failed = files.find((a) => a.status.value === "error");
      if (failed) {
        finish("error", `Cannot send: "${failed.name}" was not uploaded: ${failed.error.value}`);
      } else ask();
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
      // Uploads belong to the old session.
      this.attachments.value = [];
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
