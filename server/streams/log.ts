/**
 * The stream log: every event of an answer, in order, kept for a while so a
 * client that reconnects (to this instance or another) can be sent exactly
 * what it missed. Events are written in batches, so the per-chunk cost is an
 * array push; one KV write covers many chunks.
 *
 * Keys (all expire after the TTL):
 * - `["streams", requestId, "meta"]`: session, next sequence number, ended
 * - `["streams", requestId, "batch", firstSeq]`: a batch of events
 * - `["streams", requestId, "cancel"]`: set when any instance cancels it
 * - `["active", sessionId]`: the latest answer of a session (AI SDK resume)
 * @module
 */
import type { CoreEvent } from "../core.ts";

/** An event with its sequence number within the answer. */
export interface LoggedEvent {
  seq: number;
  event: CoreEvent;
}

/** What a reader gets back. */
export interface LogRead {
  sessionId: string;
  /** The authenticated identity that started the answer, if any. */
  identity?: string;
  /** Events with `seq` greater than the requested one, in order. */
  events: LoggedEvent[];
  /** True when the answer's final event is in the log. */
  ended: boolean;
}

/** Where answers are logged for resume and cross-instance cancel. */
export interface StreamLog {
  /** Records that an answer started (`identity`: who may resume it, when auth is on). */
  begin(requestId: string, sessionId: string, identity?: string): Promise<void>;
  /** Appends events (contiguous, in order); `ended` marks the last batch. */
  append(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void>;
  /** Events after `afterSeq`; `undefined` when the answer is unknown or expired. */
  read(requestId: string, afterSeq: number): Promise<LogRead | undefined>;
  /** The latest answer of a session, if it is still in the log. */
  latest(sessionId: string): Promise<string | undefined>;
  /** Asks whichever instance runs the answer to stop it. */
  requestCancel(requestId: string): Promise<void>;
  /** True once {@link requestCancel} was called for the answer. */
  isCancelRequested(requestId: string): Promise<boolean>;
}

interface Meta {
  sessionId: string;
  identity?: string;
  next: number;
  ended: boolean;
}

/** Serialised batches stay under KV's 64 KiB value limit. */
const MAX_BATCH_BYTES = 48_000;

/** Splits events into batches whose JSON stays under {@link MAX_BATCH_BYTES}. */
export function splitBatches(events: LoggedEvent[]): LoggedEvent[][] {
  const batches: LoggedEvent[][] = [];
  let batch: LoggedEvent[] = [];
  let bytes = 0;
  for (const item of events) {
    const size = JSON.stringify(item).length * 3;
    if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** A {@link StreamLog} in Deno KV, shared by every instance using the same database. */
export class KvStreamLog implements StreamLog {
  #kv: Deno.Kv;
  #ttlMs: number;

  /** Keeps entries for `ttlMs` milliseconds. */
  constructor(kv: Deno.Kv, options: { ttlMs: number }) {
    this.#kv = kv;
    this.#ttlMs = options.ttlMs;
  }

  async begin(requestId: string, sessionId: string, identity?: string): Promise<void> {
    const expireIn = this.#ttlMs;
    const meta: Meta = { sessionId, identity, next: 0, ended: false };
    await this.#kv.atomic()
      .set(["streams", requestId, "meta"], meta, { expireIn })
      .set(["active", sessionId], requestId, { expireIn })
      .commit();
  }

  async append(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void> {
    const metaKey = ["streams", requestId, "meta"];
    const meta = await this.#kv.get<Meta>(metaKey);
    if (!meta.value) throw new Error(`Cannot append to stream: "${requestId}" was not begun`);
    const expireIn = this.#ttlMs;
    const batches = splitBatches(events);
    const op = this.#kv.atomic();
    for (const batch of batches) {
      op.set(["streams", requestId, "batch", batch[0].seq], batch, { expireIn });
    }
    const last = events.at(-1);
    op.set(
      metaKey,
      {
        ...meta.value,
        next: last ? last.seq + 1 : meta.value.next,
        ended: ended || meta.value.ended,
      } satisfies Meta,
      { expireIn },
    );
    await op.commit();
  }

  async read(requestId: string, afterSeq: number): Promise<LogRead | undefined> {
    const meta = await this.#kv.get<Meta>(["streams", requestId, "meta"]);
    if (!meta.value) return undefined;
    const events: LoggedEvent[] = [];
    const batches = this.#kv.list<LoggedEvent[]>({ prefix: ["streams", requestId, "batch"] });
    for await (const entry of batches) {
      for (const item of entry.value) if (item.seq > afterSeq) events.push(item);
    }
    const { sessionId, identity, ended } = meta.value;
    return { sessionId, identity, events, ended };
  }

  async latest(sessionId: string): Promise<string | undefined> {
    return (await this.#kv.get<string>(["active", sessionId])).value ?? undefined;
  }

  async requestCancel(requestId: string): Promise<void> {
    await this.#kv.set(["streams", requestId, "cancel"], true, { expireIn: this.#ttlMs });
  }

  async isCancelRequested(requestId: string): Promise<boolean> {
    return (await this.#kv.get<boolean>(["streams", requestId, "cancel"])).value === true;
  }
}

/** A {@link StreamLog} in process memory, for a single instance (Bun, tests). */
export class MemoryStreamLog implements StreamLog {
  #streams = new Map<string, Meta & { events: LoggedEvent[]; cancel: boolean; at: number }>();
  #active = new Map<string, string>();
  #ttlMs: number;

  /** Forgets answers `ttlMs` after they start. */
  constructor(options: { ttlMs: number }) {
    this.#ttlMs = options.ttlMs;
  }

  #get(requestId: string) {
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
      if (this.#active.get(stream.sessionId) === id) this.#active.delete(stream.sessionId);
    }
    this.#streams.set(requestId, {
      sessionId,
      identity,
      next: 0,
      ended: false,
      events: [],
      cancel: false,
      at: Date.now(),
    });
    this.#active.set(sessionId, requestId);
    return Promise.resolve();
  }

  append(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void> {
    const stream = this.#get(requestId);
    if (!stream) {
      return Promise.reject(new Error(`Cannot append to stream: "${requestId}" was not begun`));
    }
    stream.events.push(...events);
    stream.next = (events.at(-1)?.seq ?? stream.next - 1) + 1;
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
    const requestId = this.#active.get(sessionId);
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
