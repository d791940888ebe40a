/**
 * The Deno KV backend: session history, stream log and uploads in one KV
 * database, shared by every instance that opens the same database (Deno
 * Deploy isolates, several local processes on one file).
 *
 * Keys (stream log and uploads expire after the TTL):
 * - `["sessions", id, "meta"]` next turn number, expiry stamp, and the
 *   count and bytes of the turns stored (so an append reads no old turn
 *   unless it drops it);
 *   `["sessions", id, "turns", n]` turn `n`; `["sessions", id, "owner"]` the
 *   identity that claimed it. Appends are atomic (checked against the meta
 *   versionstamp). All expire `HISTORY_TTL_MS` after the session's last use.
 *   Turn and meta values are UTF-8 JSON bytes (`kv_json.ts`); objects, as
 *   earlier versions wrote them, read too.
 * - `["chats", owner, id]` an owner's chat entry (with its expiry stamp).
 * - `["streams", requestId, "meta"]` session, question, identity, next, ended;
 *   `["streams", requestId, "batch", firstSeq, part]` a batch of events as
 *   JSON, split into parts under KV's 64 KiB value limit (all parts of a
 *   batch in one commit); an event larger than a commit is logged with its
 *   payload cut to a preview ({@link fitLoggedEvent});
 *   `["streams", requestId, "lease"]` the producer's lease deadline;
 *   `["streams", requestId, "cancel"]` set when any instance cancels it;
 *   `["active", sessionId]` the latest answer of a session (AI SDK resume).
 * - `["uploads", sessionId, uploadId, "meta" | "text", i]` an upload, its
 *   text split into values under KV's 64 KiB limit.
 * @module
 */
import { delay } from "../delay.ts";
import { packBatches, sliceText } from "./fit.ts";
import { FEWEST_WRITES } from "./kv_group_commit.ts";
import { KvSessionStore } from "./kv_history.ts";
import { openKv, whenUnlocked } from "./kv_open.ts";
import { isExpired, type SessionStoreOptions } from "./retention.ts";
import { KvQuotaStore } from "./kv_quota.ts";
import type {
  Backend,
  EventWaitOptions,
  LoggedEvent,
  LogRead,
  StoredUpload,
  StreamInfo,
  StreamLog,
  UploadStore,
  WaitOptions,
} from "./types.ts";

export { KvSessionStore, openKv };

/**
 * How often a wait also re-reads its key when KV is a local file: other
 * processes may write the file, and `kv.watch` reports only this process's
 * writes.
 */
const SHARED_FILE_POLL_MS = 50;

/** Options of {@link openKvBackend}. */
export interface KvBackendOptions extends SessionStoreOptions {
  /** How long logged answers and uploads live. */
  ttlMs: number;
}

/** Opens the KV backend at `path` (`:memory:`, a file, or `undefined` for the platform's). */
export async function openKvBackend(
  path: string | undefined,
  options: KvBackendOptions,
): Promise<Backend> {
  const kv = await openKv(path);
  let closed = false;
  return {
    name: "kv",
    history: new KvSessionStore(kv, {
      ...options,
      // A KV Connect server (self-hosted `denokv`) takes fewer checks a commit than local KV.
      groupWrites: /^https?:/.test(path ?? "") ? FEWEST_WRITES : undefined,
    }),
    streamLog: new KvStreamLog(kv, {
      ...options,
      pollMs: path && path !== ":memory:" ? SHARED_FILE_POLL_MS : undefined,
    }),
    uploads: new KvUploadStore(kv, options),
    quotas: new KvQuotaStore(kv),
    ready: () => Promise.resolve(true),
    close() {
      if (!closed) {
        closed = true;
        kv.close();
      }
      return Promise.resolve();
    },
  };
}

interface StreamMeta extends StreamInfo {
  next: number;
  ended: boolean;
  /** Set by the reader that ended a dead producer's answer. */
  sealed?: boolean;
}

/** A producer's lease: it is alive until `until` (epoch ms). */
interface Lease {
  until: number;
}

/** A {@link StreamLog} in Deno KV; events are written in batches, one KV value each. */
export class KvStreamLog implements StreamLog {
  #kv: Deno.Kv;
  #ttlMs: number;
  #pollMs: number | undefined;

  /**
   * Keeps entries for `ttlMs` milliseconds. `pollMs`: while waiting, also
   * re-read the watched key this often (a local file other processes write:
   * `kv.watch` does not see their writes); default: `kv.watch` alone.
   */
  constructor(kv: Deno.Kv, options: { ttlMs: number; pollMs?: number }) {
    this.#kv = kv;
    this.#ttlMs = options.ttlMs;
    this.#pollMs = options.pollMs;
  }

  async begin(requestId: string, info: StreamInfo): Promise<void> {
    const expireIn = this.#ttlMs;
    const meta: StreamMeta = { ...info, next: 0, ended: false };
    await whenUnlocked(() =>
      this.#kv.atomic()
        .set(["streams", requestId, "meta"], meta, { expireIn })
        .set(["active", info.sessionId], requestId, { expireIn })
        .commit()
    );
  }

  /**
   * Writes the batches in as few commits as KV's limits allow, the meta
   * (next seq, ended) with the last one: a reader sees whole batches, in
   * order. Throws when a commit fails (what was committed before stays).
   */
  /**
   * Writes the events in as few commits as KV's limits allow, each checked
   * against the meta and moving its `next` (the last one sets `ended`): a
   * reader sees whole batches, in order, and a seal in between wins (the
   * rest is dropped). Throws when KV refuses a commit.
   */
  async append(requestId: string, events: LoggedEvent[], ended: boolean): Promise<void> {
    const metaKey = ["streams", requestId, "meta"];
    const meta = await this.#kv.get<StreamMeta>(metaKey);
    if (!meta.value) throw new Error(`Cannot append to stream: "${requestId}" was not begun`);
    // A sealed answer is over: its producer was given up for dead.
    if (meta.value.sealed) return;
    const expireIn = this.#ttlMs;
    let { value, versionstamp } = meta;
    const commits = packBatches(events);
    for (const [i, batches] of commits.entries()) {
      const op = this.#kv.atomic().check({ key: metaKey, versionstamp });
      for (const { firstSeq, parts } of batches) {
        parts.forEach((part, n) =>
          op.set(["streams", requestId, "batch", firstSeq, n], part, { expireIn })
        );
      }
      const lastSeq = batches.at(-1)?.lastSeq;
      value = {
        ...value,
        next: lastSeq === undefined ? value.next : lastSeq + 1,
        ended: value.ended || (ended && i === commits.length - 1),
      };
      op.set(metaKey, value satisfies StreamMeta, { expireIn });
      const result = await whenUnlocked(() => op.commit());
      if (!result.ok) return;
      versionstamp = result.versionstamp;
    }
  }

  async read(requestId: string, afterSeq: number): Promise<LogRead | undefined> {
    const [meta, lease] = await this.#kv.getMany<[StreamMeta, Lease]>([
      ["streams", requestId, "meta"],
      ["streams", requestId, "lease"],
    ]);
    if (!meta.value) return undefined;
    const events: LoggedEvent[] = [];
    const take = (json: string) => {
      for (const item of JSON.parse(json) as LoggedEvent[]) {
        if (item.seq > afterSeq) events.push(item);
      }
    };
    // Keys sort by (firstSeq, part): join a batch's parts until the next batch starts.
    let batchKey: Deno.KvKeyPart | undefined;
    let json = "";
    const parts = this.#kv.list<string>({ prefix: ["streams", requestId, "batch"] });
    for await (const entry of parts) {
      if (entry.key[3] !== batchKey && json) {
        take(json);
        json = "";
      }
      batchKey = entry.key[3];
      json += entry.value;
    }
    if (json) take(json);
    const { sessionId, query, identity, ended, next } = meta.value;
    // KV deletes expired keys lazily: the lease carries its own deadline.
    const alive = ended || (lease.value !== null && lease.value.until > Date.now());
    return { sessionId, query, identity, events, ended, next, alive };
  }

  async latest(sessionId: string): Promise<string | undefined> {
    return (await this.#kv.get<string>(["active", sessionId])).value ?? undefined;
  }

  async forget(sessionId: string): Promise<void> {
    const requestId = await this.latest(sessionId);
    if (requestId !== undefined) {
      for await (const entry of this.#kv.list({ prefix: ["streams", requestId] })) {
        await whenUnlocked(() => this.#kv.delete(entry.key));
      }
    }
    await whenUnlocked(() => this.#kv.delete(["active", sessionId]));
  }

  async requestCancel(requestId: string): Promise<void> {
    const expireIn = this.#ttlMs;
    await whenUnlocked(() => this.#kv.set(["streams", requestId, "cancel"], true, { expireIn }));
  }

  async isCancelRequested(requestId: string): Promise<boolean> {
    return (await this.#kv.get<boolean>(["streams", requestId, "cancel"])).value === true;
  }

  async renew(requestId: string, ttlMs: number): Promise<void> {
    const lease: Lease = { until: Date.now() + ttlMs };
    const expireIn = this.#ttlMs;
    await whenUnlocked(() => this.#kv.set(["streams", requestId, "lease"], lease, { expireIn }));
  }

  async seal(requestId: string, final: LoggedEvent): Promise<boolean> {
    const metaKey = ["streams", requestId, "meta"];
    const meta = await this.#kv.get<StreamMeta>(metaKey);
    if (!meta.value || meta.value.ended || meta.value.sealed) return false;
    const expireIn = this.#ttlMs;
    const sealed: StreamMeta = { ...meta.value, next: final.seq + 1, ended: true, sealed: true };
    const result = await whenUnlocked(() =>
      this.#kv.atomic()
        .check(meta)
        .set(["streams", requestId, "batch", final.seq, 0], JSON.stringify([final]), { expireIn })
        .set(metaKey, sealed, { expireIn })
        .commit()
    );
    return result.ok;
  }

  waitForEvents(requestId: string, options: EventWaitOptions): Promise<boolean> {
    return this.#waitForChange<StreamMeta>(["streams", requestId, "meta"], options, (meta) => {
      return meta !== null && (meta.ended || meta.next !== options.next);
    });
  }

  async waitForCancel(requestId: string, options: WaitOptions): Promise<boolean> {
    await this.#waitForChange<boolean>(["streams", requestId, "cancel"], options, (cancel) => {
      return cancel === true;
    });
    return !options.signal?.aborted && await this.isCancelRequested(requestId);
  }

  /**
   * Waits for `key` to change, unless `happened` already holds for its
   * value once the watch is armed (the watch's first value: a write made
   * before the wait shows there). `kv.watch` wakes it for writes of this
   * process, a re-read every `pollMs` (when set) for other processes'
   * writes to a shared file; bounded by the timeout (then false). Every
   * timer and the watch end with the wait.
   */
  async #waitForChange<T>(
    key: Deno.KvKey,
    options: WaitOptions,
    happened: (value: T | null) => boolean,
  ): Promise<boolean> {
    if (options.signal?.aborted) return false;
    const ended = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, ended.signal]) : ended.signal;
    const reader = this.#kv.watch<[T]>([key]).getReader();
    const changed = (async () => {
      const first = await reader.read();
      if (first.done) return false;
      if (happened(first.value[0].value)) return true;
      const initial = first.value[0].versionstamp;
      const watched = (async () => {
        while (true) {
          const next = await reader.read();
          if (next.done) return false;
          if (next.value[0].versionstamp !== initial) return true;
        }
      })();
      const pollMs = this.#pollMs;
      return await (pollMs === undefined
        ? watched
        : Promise.race([watched, this.#poll(key, { initial, pollMs, signal })]));
    })().catch(() => false);
    const timeout = delay(options.timeoutMs, signal).then(() => false);
    // A watch that failed waits out the timeout instead of spinning its caller.
    const woken = await Promise.race([changed.then((yes) => yes || timeout), timeout]);
    ended.abort();
    await reader.cancel().catch(() => {});
    return woken;
  }

  /**
   * True when a re-read every `pollMs` finds `key` changed from `initial`;
   * false once `signal` aborts.
   */
  async #poll(
    key: Deno.KvKey,
    options: { initial: string | null; pollMs: number; signal: AbortSignal },
  ): Promise<boolean> {
    while (await delay(options.pollMs, options.signal)) {
      if ((await this.#kv.get(key)).versionstamp !== options.initial) return true;
    }
    return false;
  }
}

/** An upload's metadata; `expiresAt` (epoch ms) because KV returns expired keys until it deletes them. */
type UploadMeta = Omit<StoredUpload, "text"> & {
  slices: number;
  hasText: boolean;
  expiresAt?: number;
};

/** An {@link UploadStore} in Deno KV; entries expire after `ttlMs`. */
export class KvUploadStore implements UploadStore {
  #kv: Deno.Kv;
  #ttlMs: number;

  /** Wraps an open KV database. */
  constructor(kv: Deno.Kv, options: { ttlMs: number }) {
    this.#kv = kv;
    this.#ttlMs = options.ttlMs;
  }

  async save(sessionId: string, upload: StoredUpload): Promise<void> {
    const { text, ...meta } = upload;
    const slices = text === undefined ? [] : sliceText(text);
    const expireIn = this.#ttlMs;
    const op = this.#kv.atomic().set(
      ["uploads", sessionId, upload.uploadId, "meta"],
      {
        ...meta,
        slices: slices.length,
        hasText: text !== undefined,
        expiresAt: Date.now() + expireIn,
      } satisfies UploadMeta,
      { expireIn },
    );
    slices.forEach((slice, i) =>
      op.set(["uploads", sessionId, upload.uploadId, "text", i], slice, { expireIn })
    );
    const result = await whenUnlocked(() => op.commit());
    if (!result.ok) throw new Error(`Cannot save upload: "${upload.uploadId}" was not written`);
  }

  async load(sessionId: string, uploadId: string): Promise<StoredUpload | undefined> {
    const meta = await this.#kv.get<UploadMeta>(["uploads", sessionId, uploadId, "meta"]);
    if (!meta.value || isExpired(meta.value.expiresAt)) return undefined;
    const { slices: _slices, hasText, expiresAt: _expiresAt, ...upload } = meta.value;
    if (!hasText) return upload;
    let text = "";
    const slices = this.#kv.list<string>({ prefix: ["uploads", sessionId, uploadId, "text"] });
    for await (const entry of slices) text += entry.value;
    return { ...upload, text };
  }

  async deleteSession(sessionId: string): Promise<void> {
    let keys: Deno.KvKey[] = [];
    const flush = async () => {
      const op = this.#kv.atomic();
      for (const key of keys) op.delete(key);
      await whenUnlocked(() => op.commit());
      keys = [];
    };
    for await (const entry of this.#kv.list({ prefix: ["uploads", sessionId] })) {
      keys.push(entry.key);
      if (keys.length === 500) await flush();
    }
    if (keys.length > 0) await flush();
  }
}
