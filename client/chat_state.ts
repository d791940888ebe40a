/**
 * The controller that drives a transport for one chat: sends questions,
 * uploads attachments, and folds each answer's frames into the signals the
 * islands render. Free of DOM and wire code, so it runs under `deno test`
 * with a fake transport.
 * @module
 */
import { batch, computed, type Signal, signal } from "@preact/signals";
import { type FinishReason, MAX_ATTACHMENTS } from "../protocol/codes.ts";
import { type HistoryTurn, type TransportKind, UPLOAD_MAX_BYTES } from "../protocol/page.ts";
import {
  applyFrame,
  type Attachment,
  type AttachmentStatus,
  createMessage,
  formatBytes,
  type Message,
} from "./messages.ts";
import { type AnswerMetrics, AnswerSampler, metrics } from "./metrics.ts";
import {
  type AnswerHandle,
  type ChatTransport,
  type ConnectionState,
  SeqGate,
  type UploadFile,
} from "./transport/mod.ts";

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
  /** Files attached to the chat: sent with every question until removed or a new chat. */
  readonly attachments: Signal<Attachment[]> = signal([]);
  /** True when the selected transport can upload files (WebSocket). */
  readonly canAttach = computed(() =>
    this.transportKind.value === "ws" && this.attachments.value.length < MAX_ATTACHMENTS
  );
  /**
   * The question being edited (its index in {@link messages}): the next
   * {@link send} replaces it and drops every later message.
   */
  readonly editing: Signal<number | undefined> = signal(undefined);
  /** True when the last answer can be regenerated. */
  readonly canRegenerate = computed(() =>
    !this.busy.value && this.messages.value.length > 0 && this.editing.value === undefined
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
  /** Ids of attachments already named by a question (listed only on the first). */
  #sent = new Set<string>();

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
    const keep = this.editing.value;
    if (keep === undefined) return this.#send(text);
    if (!this.#send(text, keep)) return false;
    this.editing.value = undefined;
    return true;
  }

  /**
   * Asks the last question again: its answer is replaced, here and in the
   * server's history (one new model request). False when busy or empty.
   */
  regenerate(): boolean {
    const last = this.messages.value.at(-1);
    if (!last || !this.canRegenerate.value) return false;
    return this.#send(last.query, this.messages.value.length - 1);
  }

  /** Starts editing question `index`: the next {@link send} replaces it. */
  edit(index: number | undefined): void {
    if (this.busy.value) return;
    this.editing.value = index !== undefined && index >= 0 && index < this.messages.value.length
      ? index
      : undefined;
  }

  /** Sends a question; with `keep`, the history is cut back to `keep` turns first. */
  #send(text: string, keep?: number): boolean {
    const query = text.trim();
    if (!query || this.current.value || this.attachmentFailed.value) return false;
    const transport = this.#ensureTransport();
    const sessionId = this.#ensureSession();
    const requestId = this.#newId();
    // An edit names no files: the server's edit keeps the chat's uploads out.
    const files = keep === undefined ? this.attachments.value : [];
    const fresh = files.filter((a) => !this.#sent.has(a.id));
    for (const a of fresh) this.#sent.add(a.id);
    const message = createMessage({
      id: requestId,
      query,
      transport: transport.kind,
      attachments: fresh.length ? fresh.map((a) => a.name) : undefined,
    });
    const sampler = new AnswerSampler(this.#metrics, { transport: transport.kind, now: this.#now });
    const finish = (state: FinishReason, error?: string) => {
      if (this.current.value !== message) return;
      batch(() => {
        message.state.value = state;
        message.error.value = error;
        sampler.finish();
        this.current.value = undefined;
      });
      this.#handle = undefined;
      this.#end = undefined;
    };
    this.#end = finish;
    batch(() => {
      const kept = keep === undefined ? this.messages.value : this.messages.value.slice(0, keep);
      this.messages.value = [...kept, message];
      this.current.value = message;
      sampler.publish();
    });
    const ask = () => {
      this.#handle = this.#ask(transport, {
        message,
        sessionId,
        keepTurns: keep,
        attachments: files.map((a) => a.id),
        hooks: { content: () => sampler.chunk(), finish },
      });
    };
    const uploading = files.filter((a) => a.status.value === "uploading");
    if (uploading.length === 0) ask();
    else this.#afterUploads(message, { files, uploading, ask, finish });
    return true;
  }

  /** Asks the transport; the answer's frames fold into `message`, each once. */
  #ask(
    transport: ChatTransport,
    { message, sessionId, attachments, hooks, keepTurns }: {
      message: Message;
      sessionId: string;
      attachments: string[];
      keepTurns?: number;
      hooks: { content(): void; finish(state: FinishReason, error?: string): void };
    },
  ): AnswerHandle {
    // Both transports resume after a drop; never apply a frame twice.
    const seq = new SeqGate();
    return transport.ask({
      query: message.query,
      sessionId,
      requestId: message.id,
      ...(attachments.length ? { attachments } : {}),
      ...(keepTurns === undefined ? {} : { keepTurns }),
    }, {
      frame: (frame) => {
        if (!seq.admit(frame)) return;
        applyFrame(message, frame, { ...hooks, session: (id) => this.#adoptSession(id) });
      },
      lost: (reason) => hooks.finish("error", reason),
    });
  }

  /** Waits for the uploads before asking; Stop meanwhile ends the question unsent. */
  #afterUploads(
    message: Message,
    { files, uploading, ask, finish }: {
      files: Attachment[];
      uploading: Attachment[];
      ask(): void;
      finish(state: FinishReason, error?: string): void;
    },
  ): void {
    message.activity.value = [{
      kind: "status",
      message: `Uploading ${uploading.map((a) => a.name).join(", ")}…`,
    }];
    this.#handle = { requestId: message.id, cancel: () => finish("cancelled") };
    Promise.all(files.map((a) => a.done)).then(() => {
      if (this.current.value !== message) return;
      const failed = files.find((a) => a.status.value === "error");
      if (failed) {
        finish("error", `Cannot send: "${failed.name}" was not uploaded: ${failed.error.value}`);
      } else ask();
    });
  }

  #adoptSession(id: string): void {
    if (id === this.sessionId.value) return;
    this.sessionId.value = id;
    this.#persist?.saveSession(id);
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
      this.editing.value = undefined;
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
}
