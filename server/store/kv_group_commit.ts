/**
 * Group commit for Deno KV ({@link KvGroupCommit}): small checked writes
 * that arrive together leave as one atomic operation.
 *
 * Every KV commit pays a fixed cost (a hop to KV's thread and back, a
 * transaction) several times that of one more mutation in it: on an
 * in-memory database about 200 µs of CPU for a commit of one session's
 * turn, 85 µs each for ten in one commit. Writes queued while a commit is
 * on its way go out together in the next; an idle store commits a write
 * at once.
 *
 * A batch whose checks fail, or that KV refuses, is committed again write
 * by write, so each write gets its own result and no write fails for
 * another's conflict.
 * @module
 */
import { whenUnlocked } from "./kv_open.ts";

/** One write: its checks and mutations, and how large they are. */
export interface GroupWrite {
  /**
   * What its check guards (a session id): writes guarding the same thing
   * never share a commit, where both checks would pass against the state
   * before either and the second write would undo the first.
   */
  guards: string;
  /** Adds the write's checks and mutations to `op`. */
  build(op: Deno.AtomicOperation): void;
  /** Mutations the write adds. */
  mutations: number;
  /** Bytes of its values, about. */
  bytes: number;
}

/** What a write's commit came to: `ok: false` when one of its checks failed. */
export type GroupResult = Deno.KvCommitResult | Deno.KvCommitError;

/**
 * Writes per commit (one check each) where KV allows 100 checks a commit:
 * local files, `:memory:` and Deno Deploy. A larger group spreads a
 * commit's fixed cost further: on an in-memory database about 70 µs of CPU
 * per turn in groups of 10, 50 µs in groups of 50 or more.
 */
export const MAX_WRITES = 100;
/** Writes per commit on a database that allows fewer checks: 10, self-hosted `denokv`'s limit. */
export const FEWEST_WRITES = 10;
/** Mutations and bytes per commit, well inside KV's 1,000 and 800 KiB. */
const MAX_MUTATIONS = 500;
const MAX_BYTES = 600_000;

interface Queued {
  write: GroupWrite;
  resolve(result: GroupResult): void;
  reject(error: unknown): void;
}

/** Options of a {@link KvGroupCommit}. */
export interface GroupCommitOptions {
  /**
   * Most writes in one commit (default {@link MAX_WRITES}). A group KV
   * refuses for its number of checks lowers it for good, to the limit KV
   * names (else {@link FEWEST_WRITES}) and below the group's size; the
   * group's writes are committed one by one.
   */
  maxWrites?: number;
}

/** Commits the checked writes of one KV database in groups. */
export class KvGroupCommit {
  #kv: Deno.Kv;
  #queue: Queued[] = [];
  #running = false;
  #maxWrites: number;

  /** Groups the writes to `kv`. */
  constructor(kv: Deno.Kv, options: GroupCommitOptions = {}) {
    this.#kv = kv;
    this.#maxWrites = options.maxWrites ?? MAX_WRITES;
  }

  /** Most writes a commit takes now. */
  get maxWrites(): number {
    return this.#maxWrites;
  }

  /**
   * After KV refused `group`: when it had too many checks, fewer writes a
   * commit from now on (KV's limit counts checks, a write has one or more).
   */
  #refused(group: Queued[], error: unknown): void {
    const message = error instanceof Error ? error.message : "";
    if (!/too many checks/i.test(message)) return;
    const named = Number(/max (\d+)/i.exec(message)?.[1]);
    this.#maxWrites = Math.min(group.length - 1, named >= 1 ? named : FEWEST_WRITES);
  }

  /** Commits `write` with the writes queued beside it; its own result. */
  commit(write: GroupWrite): Promise<GroupResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ write, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        // After the caller's synchronous work: writes it queues too join the first group.
        queueMicrotask(() => void this.#drain());
      }
    });
  }

  /** Commits the queue, a group at a time, until it is empty. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const group = this.#takeGroup();
      try {
        const result = await this.#commitAll(group.map((q) => q.write));
        if (result.ok || group.length === 1) {
          for (const q of group) q.resolve(result);
          continue;
        }
      } catch (error) {
        if (group.length === 1) {
          group[0].reject(error);
          continue;
        }
        this.#refused(group, error);
      }
      // A check failed (or KV refused the group): each write alone.
      await Promise.all(group.map((q) => this.#commitAll([q.write]).then(q.resolve, q.reject)));
    }
    this.#running = false;
  }

  /**
   * The first writes of the queue that fit in one commit (at least one),
   * up to the first that guards what one of them guards.
   */
  #takeGroup(): Queued[] {
    const guarded = new Set<string>();
    let mutations = 0;
    let bytes = 0;
    let n = 0;
    for (const { write } of this.#queue) {
      mutations += write.mutations;
      bytes += write.bytes;
      const full = n >= this.#maxWrites || mutations > MAX_MUTATIONS || bytes > MAX_BYTES;
      if (n > 0 && (full || guarded.has(write.guards))) break;
      guarded.add(write.guards);
      n++;
    }
    return this.#queue.splice(0, n);
  }

  #commitAll(writes: GroupWrite[]): Promise<GroupResult> {
    const op = this.#kv.atomic();
    for (const write of writes) write.build(op);
    return whenUnlocked(() => op.commit());
  }
}
