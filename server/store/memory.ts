/**
 * Stores in process memory: one instance only (Bun's stream log and
 * uploads, unit tests). In a fleet the shared backend (Deno KV, Redis)
 * replaces them; nothing here survives a restart.
 * @module
 */
import { delay } from "../delay.ts";
import { storedTurn } from "./fit.ts";
import {
  chatsToDrop,
  isExpired,
  limitsOf,
  listedChats,
  overBounds,
  publicChat,
  type SessionStoreOptions,
  type StoredChat,
  type StoreLimits,
  type TurnBounds,
  turnBoundsOf,
  turnBytes,
} from "./retention.ts";
import type { ChatEntry } from "./types.ts";
import { MemoryQuotaStore } from "./quota.ts";
import type {
  Backend,
  EventWaitOptions,
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

/** A session as the memory store keeps it. */
interface MemorySession {
  turns: Turn[];
  /** Each turn's stored size ({@link turnBytes}). */
  sizes: number[];
  /** The sum of `sizes`. */
  bytes: number;
  owner?: string;
  expiresAt: number;
}

/** A {@link SessionStore} in process memory (unit tests, single instance). */
export class MemorySessionStore implements SessionStore {
  #sessions = new Map<string, MemorySession>();
  #chats = new Map<string, Map<string, Required<StoredChat>>>();
  #limits: StoreLimits;
  #bounds: TurnBounds;

  /** Keeps the last `window` turns per session, within the bounds of `options`. */
  constructor(options: SessionStoreOptions) {
    this.#limits = limitsOf(options);
    this.#bounds = turnBoundsOf(options);
  }

  /** The live session (its expiry pushed), a new one when `create`, else undefined. */
  #use(sessionId: string, create = false): MemorySession | undefined {
    const now = Date.now();
    let session = this.#sessions.get(sessionId);
    if (session && isExpired(session.expiresAt, now)) {
      this.#sessions.delete(sessionId);
      session = undefined;
    }
    if (!session && create) {
      for (const [id, other] of this.#sessions) {
        if (isExpired(other.expiresAt, now)) this.#sessions.delete(id);
      }
      session = { turns: [], sizes: [], bytes: 0, expiresAt: 0 };
      this.#sessions.set(sessionId, session);
    }
    if (session) session.expiresAt = now + this.#limits.historyTtlMs;
    return session;
  }

  load(sessionId: string): Promise<Turn[]> {
    return Promise.resolve(structuredClone(this.#use(sessionId)?.turns ?? []));
  }

  append(sessionId: string, turn: Turn): Promise<void> {
    const session = this.#use(sessionId, true)!;
    const { turn: value, json } = storedTurn(structuredClone(turn));
    const size = turnBytes(json);
    session.turns.push(value);
    session.sizes.push(size);
    session.bytes += size;
    while (overBounds({ turns: session.turns.length, bytes: session.bytes }, this.#bounds)) {
      session.turns.shift();
      session.bytes -= session.sizes.shift()!;
    }
    return Promise.resolve();
  }

  listChats(owner: string): Promise<ChatEntry[]> {
    return Promise.resolve(listedChats(this.#chats.get(owner)?.values() ?? []));
  }

  async saveChat(owner: string, entry: ChatEntry): Promise<string[]> {
    const chats = this.#chats.get(owner) ?? new Map<string, Required<StoredChat>>();
    const expiresAt = Date.now() + this.#limits.historyTtlMs;
    chats.set(entry.sessionId, { ...publicChat(entry), expiresAt });
    this.#chats.set(owner, chats);
    const drop = chatsToDrop([...chats.values()], {
      current: entry.sessionId,
      cap: this.#limits.maxSessionsPerOwner,
    });
    for (const id of drop.expired) chats.delete(id);
    for (const id of drop.evicted) await this.removeChat(owner, id);
    return drop.evicted;
  }

  touchChat(owner: string, sessionId: string): Promise<void> {
    const chat = this.#chats.get(owner)?.get(sessionId);
    const now = Date.now();
    if (chat && !isExpired(chat.expiresAt, now)) {
      chat.at = now;
      chat.expiresAt = now + this.#limits.historyTtlMs;
    }
    return Promise.resolve();
  }

  removeChat(owner: string, sessionId: string): Promise<boolean> {
    if (!this.#chats.get(owner)?.delete(sessionId)) return Promise.resolve(false);
    this.#sessions.delete(sessionId);
    return Promise.resolve(true);
  }

  truncate(sessionId: string, keep: number): Promise<void> {
    const session = this.#use(sessionId);
    if (session) {
      session.turns.splice(Math.max(0, keep));
      for (const size of session.sizes.splice(Math.max(0, keep))) session.bytes -= size;
    }
    return Promise.resolve();
  }

  claim(sessionId: string, owner: string): Promise<boolean> {
    const session = this.#use(sessionId, true)!;
    session.owner ??= owner;
    return Promise.resolve(session.owner === owner);
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
    // A batch written again (a retry after a lost reply) adds nothing twice.
    const fresh = events.filter((item) => item.seq >= stream.next);
    stream.events.push(...fresh);
    stream.next = (fresh.at(-1)?.seq ?? stream.next - 1) + 1;
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

  forget(sessionId: string): Promise<void> {
    const requestId = this.#latest.get(sessionId);
    if (requestId !== undefined) {
      this.#streams.delete(requestId);
      this.#leases.delete(requestId);
    }
    this.#latest.delete(sessionId);
    return Promise.resolve();
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

  waitForEvents(requestId: string, options: EventWaitOptions): Promise<boolean> {
    return this.#waitFor(requestId, "events", options, (stream) => {
      return stream.ended || stream.next !== options.next;
    });
  }

  async waitForCancel(requestId: string, options: WaitOptions): Promise<boolean> {
    await this.#waitFor(requestId, "cancel", options, (stream) => stream.cancel);
    return this.#get(requestId)?.cancel === true;
  }

  /**
   * Waits for the next `type` event of the answer, unless `happened`
   * already holds: the check and the listener are set up in one
   * synchronous step, so no write can fall between them.
   */
  async #waitFor(
    requestId: string,
    type: string,
    options: WaitOptions,
    happened: (stream: MemoryStream) => boolean,
  ): Promise<boolean> {
    const stream = this.#get(requestId);
    if (stream && happened(stream)) return true;
    if (options.signal?.aborted) return false;
    const stop = new AbortController();
    const woken = new Promise<boolean>((resolve) =>
      stream?.changed.addEventListener(type, () => resolve(true), {
        once: true,
        signal: stop.signal,
      })
    );
    const timeout = AbortSignal.any([stop.signal, ...(options.signal ? [options.signal] : [])]);
    const result = await Promise.race([woken, delay(options.timeoutMs, timeout).then(() => false)]);
    stop.abort();
    return result;
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
export interface MemoryBackendOptions extends SessionStoreOptions {
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
