/**
 * Stores in process memory: one instance only (Bun's stream log and
 * uploads, unit tests). In a fleet the shared backend (Deno KV, Redis)
 * replaces them; nothing here survives a restart.
 * @module
 */
import type {
  Backend,
  LoggedEvent,
  LogRead,
  SessionStore,
  StoredUpload,
  StreamLog,
  Turn,
  UploadStore,
} from "./types.ts";

/** A {@link SessionStore} in process memory (unit tests, single instance). */
export class MemorySessionStore implements SessionStore {
  #turns = new Map<string, Turn[]>();
  #owners = new Map<string, string>();
  #window: number;

  /** Keeps the last `window` turns per session. */
  constructor(options: { window: number }) {
    this.#window = options.window;
  }

  load(sessionId: string): Promise<Turn[]> {
    return Promise.resolve([...this.#turns.get(sessionId) ?? []]);
  }

  append(sessionId: string, turn: Turn): Promise<void> {
    const turns = this.#turns.get(sessionId) ?? [];
    turns.push(structuredClone(turn));
    if (turns.length > this.#window) turns.splice(0, turns.length - this.#window);
    this.#turns.set(sessionId, turns);
    return Promise.resolve();
  }

  claim(sessionId: string, owner: string): Promise<boolean> {
    if (!this.#owners.has(sessionId)) this.#owners.set(sessionId, owner);
    return Promise.resolve(this.#owners.get(sessionId) === owner);
  }

  close(): void {}
}

interface MemoryStream {
  sessionId: string;
  identity?: string;
  ended: boolean;
  events: LoggedEvent[];
  cancel: boolean;
  at: number;
}

/** A {@link StreamLog} in process memory, for a single instance (Bun, tests). */
export class MemoryStreamLog implements StreamLog {
  #streams = new Map<string, MemoryStream>();
  #latest = new Map<string, string>();
  #ttlMs: number;

  /** Forgets answers `ttlMs` after they start. */
  constructor(options: { ttlMs: number }) {
    this.#ttlMs = options.ttlMs;
  }

  #get(requestId: string): MemoryStream | undefined {
    const stream = this.#streams.get(requestId);
    if (stream && Date.now() - stream.at > this.#ttlMs) {
      this.#streams.delete(requestId);
      return undefined;
    }
    return stream;
  }

  begin(requestId: string, sessionId: string, identity?: string): Promise<void> {
    for (const [id, stream] of this.#streams) {
      if (Date.now() - stream.at <= this.#ttlMs) continue;
      this.#streams.delete(id);
      if (this.#latest.get(stream.sessionId) === id) this.#latest.delete(stream.sessionId);
    }
    this.#streams.set(requestId, {
      sessionId,
      identity,
      ended: false,
      events: [],
      cancel: false,
      at: Date.now(),
    });
    this.#latest.set(sessionId, requestId);
    return Promise.resolve();
  }

  append(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void> {
    const stream = this.#get(requestId);
    if (!stream) {
      return Promise.reject(new Error(`Cannot append to stream: "${requestId}" was not begun`));
    }
    stream.events.push(...events);
    stream.ended ||= ended;
    return Promise.resolve();
  }

  read(requestId: string, afterSeq: number): Promise<LogRead | undefined> {
    const stream = this.#get(requestId);
    if (!stream) return Promise.resolve(undefined);
    return Promise.resolve({
      sessionId: stream.sessionId,
      identity: stream.identity,
      events: stream.events.filter((item) => item.seq > afterSeq),
      ended: stream.ended,
    });
  }

  latest(sessionId: string): Promise<string | undefined> {
    const requestId = this.#latest.get(sessionId);
    return Promise.resolve(requestId && this.#get(requestId) ? requestId : undefined);
  }

  requestCancel(requestId: string): Promise<void> {
    const stream = this.#get(requestId);
    if (stream) stream.cancel = true;
    return Promise.resolve();
  }

  isCancelRequested(requestId: string): Promise<boolean> {
    return Promise.resolve(this.#get(requestId)?.cancel === true);
  }
}

/** An {@link UploadStore} in process memory (single instance: Bun, tests). */
export class MemoryUploadStore implements UploadStore {
  #uploads = new Map<string, { upload: StoredUpload; at: number }>();
  #ttlMs: number;

  /** Forgets uploads `ttlMs` after they arrive. */
  constructor(options: { ttlMs: number }) {
    this.#ttlMs = options.ttlMs;
  }

  save(sessionId: string, upload: StoredUpload): Promise<void> {
    const now = Date.now();
    for (const [key, entry] of this.#uploads) {
      if (now - entry.at > this.#ttlMs) this.#uploads.delete(key);
    }
    this.#uploads.set(`${sessionId}/${upload.uploadId}`, { upload, at: now });
    return Promise.resolve();
  }

  load(sessionId: string, uploadId: string): Promise<StoredUpload | undefined> {
    const entry = this.#uploads.get(`${sessionId}/${uploadId}`);
    if (!entry || Date.now() - entry.at > this.#ttlMs) return Promise.resolve(undefined);
    return Promise.resolve(entry.upload);
  }
}

/** Options of the in-memory stores. */
export interface MemoryBackendOptions {
  /** Turns kept per session. */
  window: number;
  /** How long logged answers and uploads live. */
  ttlMs: number;
}

/** A whole {@link Backend} in process memory (unit tests, a single throwaway instance). */
export function openMemoryBackend(options: MemoryBackendOptions): Backend {
  return {
    name: "memory",
    history: new MemorySessionStore(options),
    streamLog: new MemoryStreamLog(options),
    uploads: new MemoryUploadStore(options),
    close: () => Promise.resolve(),
  };
}
