/**
 * Stores in process memory: one instance only (Bun's stream log and
 * uploads, unit tests). In a fleet the shared backend (Deno KV, Redis)
 * replaces them; nothing here survives a restart.
 * @module
 */
import { delay } from "../delay.ts";
import { type ChatEntry, MAX_CHATS } from "./types.ts";
import { MemoryQuotaStore } from "./quota.ts";
import type {
  Backend,
  LoggedEvent,
  LogRead,
  SessionStore,
  StoredUpload,
  StreamInfo,
  StreamLog,
  Turn,
  UploadStore,
  WaitOptions,
} from "./types.ts";

/** A {@link SessionStore} in process memory (unit tests, single instance). */
export class MemorySessionStore implements SessionStore {
  #turns = new Map<string, Turn[]>();
  #owners = new Map<string, string>();
  #chats = new Map<string, Map<string, ChatEntry>>();
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

  listChats(owner: string): Promise<ChatEntry[]> {
    const chats = [...this.#chats.get(owner)?.values() ?? []];
    return Promise.resolve(chats.sort((a, b) => b.at - a.at).slice(0, MAX_CHATS));
  }

  saveChat(owner: string, entry: ChatEntry): Promise<void> {
    const chats = this.#chats.get(owner) ?? new Map<string, ChatEntry>();
    chats.set(entry.sessionId, { ...entry });
    this.#chats.set(owner, chats);
    return Promise.resolve();
  }

  removeChat(owner: string, sessionId: string): Promise<boolean> {
    if (!this.#chats.get(owner)?.delete(sessionId)) return Promise.resolve(false);
    this.#turns.delete(sessionId);
    return Promise.resolve(true);
  }

  truncate(sessionId: string, keep: number): Promise<void> {
    this.#turns.get(sessionId)?.splice(Math.max(0, keep));
    return Promise.resolve();
  }

  claim(sessionId: string, owner: string): Promise<boolean> {
    if (!this.#owners.has(sessionId)) this.#owners.set(sessionId, owner);
    return Promise.resolve(this.#owners.get(sessionId) === owner);
  }

  close(): void {}
}

interface MemoryStream extends StreamInfo {
  events: LoggedEvent[];
  next: number;
  ended: boolean;
  /** Ended by a reader that found the producer dead. */
  sealed: boolean;
  cancel: boolean;
  at: number;
  /** Epoch ms until which the producer's lease holds. */
  leaseUntil: number;
  /** Fires "events" and "cancel" for waiting readers and producers. */
  changed: EventTarget;
}

/** A {@link StreamLog} in process memory, for a single instance (Bun, tests). */
export class MemoryStreamLog implements StreamLog {
  #streams = new Map<string, MemoryStream>();
  #leases = new Map<string, number>();
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
      this.#leases.delete(requestId);
      return undefined;
    }
    return stream;
  }

  begin(requestId: string, info: StreamInfo): Promise<void> {
    for (const [id, stream] of this.#streams) {
      if (Date.now() - stream.at <= this.#ttlMs) continue;
      this.#streams.delete(id);
      this.#leases.delete(id);
      if (this.#latest.get(stream.sessionId) === id) this.#latest.delete(stream.sessionId);
    }
    this.#streams.set(requestId, {
      ...info,
      events: [],
      next: 0,
      ended: false,
      sealed: false,
      cancel: false,
      at: Date.now(),
      leaseUntil: 0,
      changed: new EventTarget(),
    });
    this.#latest.set(info.sessionId, requestId);
    return Promise.resolve();
  }

  append(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void> {
    const stream = this.#get(requestId);
    if (!stream) {
      return Promise.reject(new Error(`Cannot append to stream: "${requestId}" was not begun`));
    }
    if (stream.sealed) return Promise.resolve();
    stream.events.push(...events);
    stream.next = (events.at(-1)?.seq ?? stream.next - 1) + 1;
    stream.ended ||= ended;
    stream.changed.dispatchEvent(new Event("events"));
    return Promise.resolve();
  }

  read(requestId: string, afterSeq: number): Promise<LogRead | undefined> {
    const stream = this.#get(requestId);
    if (!stream) return Promise.resolve(undefined);
    const { sessionId, query, identity, ended, next } = stream;
    return Promise.resolve({
      sessionId,
      query,
      identity,
      events: stream.events.filter((item) => item.seq > afterSeq),
      ended,
      next,
      alive: ended || (this.#leases.get(requestId) ?? 0) > Date.now(),
    });
  }

  latest(sessionId: string): Promise<string | undefined> {
    const requestId = this.#latest.get(sessionId);
    return Promise.resolve(requestId && this.#get(requestId) ? requestId : undefined);
  }

  requestCancel(requestId: string): Promise<void> {
    const stream = this.#get(requestId);
    if (stream) {
      stream.cancel = true;
      stream.changed.dispatchEvent(new Event("cancel"));
    }
    return Promise.resolve();
  }

  isCancelRequested(requestId: string): Promise<boolean> {
    return Promise.resolve(this.#get(requestId)?.cancel === true);
  }

  renew(requestId: string, ttlMs: number): Promise<void> {
    this.#leases.set(requestId, Date.now() + ttlMs);
    return Promise.resolve();
  }

  seal(requestId: string, final: LoggedEvent): Promise<boolean> {
    const stream = this.#get(requestId);
    if (!stream || stream.ended || stream.sealed) return Promise.resolve(false);
    stream.events.push(final);
    stream.next = final.seq + 1;
    stream.ended = true;
    stream.sealed = true;
    stream.changed.dispatchEvent(new Event("events"));
    return Promise.resolve(true);
  }

  async waitForEvents(requestId: string, options: WaitOptions): Promise<void> {
    await this.#waitFor(requestId, "events", options);
  }

  async waitForCancel(requestId: string, options: WaitOptions): Promise<boolean> {
    await this.#waitFor(requestId, "cancel", options);
    return this.#get(requestId)?.cancel === true;
  }

  async #waitFor(requestId: string, type: string, options: WaitOptions): Promise<void> {
    const target = this.#get(requestId)?.changed;
    const stop = new AbortController();
    const woken = new Promise<void>((resolve) =>
      target?.addEventListener(type, () => resolve(), { once: true, signal: stop.signal })
    );
    const timeout = AbortSignal.any([stop.signal, ...(options.signal ? [options.signal] : [])]);
    await Promise.race([woken, delay(options.timeoutMs, timeout)]);
    stop.abort();
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

  deleteSession(sessionId: string): Promise<void> {
    for (const key of this.#uploads.keys()) {
      if (key.startsWith(`${sessionId}/`)) this.#uploads.delete(key);
    }
    return Promise.resolve();
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
    quotas: new MemoryQuotaStore(),
    ready: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  };
}
