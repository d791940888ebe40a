/**
 * The storage contract as tests: one suite per interface of
 * `server/store/types.ts`, run against every implementation (memory, Deno
 * KV, SQLite, Redis). `sessionStoreContract(name, open)` and friends
 * register the cases as `Deno.test`s; the cases themselves use only
 * `node:` modules (so `node:assert`), so Bun can run them too
 * (`tests/helpers/sqlite_store_bun.ts`).
 * @module
 */
import assert from "node:assert/strict";
import type {
  LoggedEvent,
  QuotaStore,
  SessionStore,
  StoredUpload,
  StreamLog,
  Turn,
  UploadStore,
} from "../../server/store/types.ts";
import type { StoreLimits } from "../../server/store/retention.ts";
import { until } from "./within.ts";

/** Opens a fresh, empty session store keeping `window` turns per session, within `limits`. */
export type OpenSessionStore = (
  window: number,
  limits?: Partial<StoreLimits>,
) => Promise<SessionStore>;

/** Something holding a stream log (a `Backend` is one), closed after each case. */
export interface WithStreamLog {
  streamLog: StreamLog;
  close(): void | Promise<void>;
}

/** Something holding an upload store (a `Backend` is one), closed after each case. */
export interface WithUploads {
  uploads: UploadStore;
  close(): void | Promise<void>;
}

/** One contract case. */
export interface ContractCase<Open> {
  name: string;
  run(open: Open): Promise<void>;
}

/** A turn as the core stores it. */
export function turn(query: string, answer = `answer to ${query}`): Turn {
  return { query, answer, finishReason: "stop", tools: [], at: Date.now() };
}

/** Opens something closable, runs `body` on it and closes it, whatever happens. */
async function withOpened<T extends { close(): void | Promise<void> }>(
  open: () => Promise<T>,
  body: (opened: T) => Promise<void>,
): Promise<void> {
  const opened = await open();
  try {
    await body(opened);
  } finally {
    await opened.close();
  }
}

const withSessionStore = (
  open: OpenSessionStore,
  window: number,
  body: (store: SessionStore) => Promise<void>,
  limits?: Partial<StoreLimits>,
) => withOpened(() => open(window, limits), body);

/** A TTL short enough to wait out in a test, long enough for a busy machine between uses. */
const SHORT_TTL_MS = 1_500;

/**
 * A gap between the last use of a history and the last push of its chat
 * entry, so the entry surely expires last: Redis expires keys on its own
 * clock, to within a millisecond, and the entry's stamp is ours.
 */
const MARGIN_MS = 20;

const queries = async (store: SessionStore, sessionId: string) =>
  (await store.load(sessionId)).map((t) => t.query);

const listed = async (store: SessionStore, owner: string) =>
  (await store.listChats(owner)).map((c) => c.sessionId);

/**
 * Waits until `owner` lists no chat: `listChats` does not push expiry, so
 * it is the probe (a `load` would keep the history alive).
 */
const untilUnlisted = (store: SessionStore, owner: string) =>
  until(async () => (await store.listChats(owner)).length === 0, {
    timeoutMs: 30_000,
    what: `the chats of "${owner}" expire`,
  });

/** The retention cases: expiry, expiry pushed by use, the session and byte caps. */
const RETENTION_CASES: ContractCase<OpenSessionStore>[] = [
  {
    name: "history and chat entries expire after the TTL; a later turn starts afresh",
    run: (open) =>
      withSessionStore(open, 10, async (store) => {
        await store.append("s", turn("old"));
        assert.deepEqual(await queries(store, "s"), ["old"]);
        // Listed after the last use of the history: the entry outlives it.
        await sleep(MARGIN_MS);
        await store.saveChat("alice", { sessionId: "s", title: "old", at: Date.now() });
        assert.deepEqual(await listed(store, "alice"), ["s"]);
        await untilUnlisted(store, "alice");
        assert.deepEqual(await store.load("s"), [], "the history expired with its entry");
        await store.touchChat("alice", "s");
        assert.deepEqual(await listed(store, "alice"), [], "an expired entry is not touched back");
        await store.append("s", turn("new"));
        assert.deepEqual(await queries(store, "s"), ["new"], "nothing expired comes back");
      }, { historyTtlMs: SHORT_TTL_MS }),
  },
  {
    name: "every use pushes the expiry back: a session used within the TTL lives on",
    run: (open) =>
      withSessionStore(open, 20, async (store) => {
        await store.append("s", turn("kept"));
        await store.saveChat("alice", { sessionId: "s", title: "kept", at: 1 });
        // Uses a fifth of the TTL apart, for longer than the TTL in all.
        for (let i = 0; i < 8; i++) {
          await sleep(SHORT_TTL_MS / 5);
          if (i % 2 === 0) await store.append("s", turn(`q${i}`));
          assert.equal((await store.load("s"))[0]?.query, "kept", `use ${i}`);
          await store.touchChat("alice", "s");
          assert.deepEqual(await listed(store, "alice"), ["s"], `use ${i}`);
        }
        const [entry] = await store.listChats("alice");
        assert.ok(entry.at > 1, "a touch marks the chat as used now");
        await sleep(MARGIN_MS);
        await store.touchChat("alice", "s");
        await untilUnlisted(store, "alice");
        assert.deepEqual(await store.load("s"), [], "unused, it expires");
      }, { historyTtlMs: SHORT_TTL_MS }),
  },
  {
    name:
      "an owner keeps at most the cap of chats: listing one more evicts the least recently used",
    run: (open) =>
      withSessionStore(open, 10, async (store) => {
        for (const id of ["s1", "s2", "s3", "b1"]) await store.append(id, turn(`in ${id}`));
        assert.deepEqual(await store.saveChat("alice", { sessionId: "s1", title: "1", at: 1 }), []);
        assert.deepEqual(await store.saveChat("alice", { sessionId: "s2", title: "2", at: 2 }), []);
        assert.deepEqual(await store.saveChat("bob", { sessionId: "b1", title: "b", at: 3 }), []);
        await store.touchChat("alice", "s1");
        await store.touchChat("alice", "nobody");
        assert.deepEqual(await listed(store, "alice"), ["s1", "s2"], "s1 was used last");
        const evicted = await store.saveChat("alice", { sessionId: "s3", title: "3", at: 3 });
        assert.deepEqual(evicted, ["s2"], "the least recently used chat goes");
        assert.deepEqual(await listed(store, "alice"), ["s1", "s3"]);
        assert.deepEqual(await store.load("s2"), [], "with its history");
        assert.deepEqual(await queries(store, "s1"), ["in s1"]);
        assert.deepEqual(await queries(store, "s3"), ["in s3"]);
        assert.deepEqual(await listed(store, "bob"), ["b1"], "other owners keep theirs");
        const renamed = await store.saveChat("alice", { sessionId: "s3", title: "three", at: 4 });
        assert.deepEqual(renamed, [], "a rename adds no chat");
        assert.deepEqual(await listed(store, "alice"), ["s1", "s3"]);
      }, { maxSessionsPerOwner: 2 }),
  },
  {
    name: "a session keeps at most the byte cap of turns: the oldest leave first, the newest stays",
    run: (open) =>
      withSessionStore(open, 50, async (store) => {
        // About 20 KB each: three fit in 64 KiB, four do not.
        for (let i = 0; i < 6; i++) await store.append("s", turn(`q${i}`, "x".repeat(20_000)));
        assert.deepEqual(await queries(store, "s"), ["q3", "q4", "q5"]);
        await store.append("other", turn("small"));
        // A turn of nearly one KV value (the most a stored turn is) fits the smallest cap, alone.
        await store.append("s", turn("big", "x".repeat(59_000)));
        assert.deepEqual(await queries(store, "s"), ["big"]);
        await store.append("s", turn("next"));
        assert.deepEqual(await queries(store, "s"), ["big", "next"]);
        assert.deepEqual(await queries(store, "other"), ["small"]);
      }, { maxSessionBytes: 64 * 1024 }),
  },
  {
    name:
      "the byte cap counts only the turns kept: after window drops, a truncate, concurrent appends",
    run: (open) =>
      withSessionStore(open, 4, async (store) => {
        // About 20 KB each: three and a few small turns fit in 64 KiB, four do not.
        const big = (query: string) => turn(query, "x".repeat(20_000));
        for (const q of ["B1", "B2", "B3"]) await store.append("s", big(q));
        await store.append("s", turn("a"));
        await store.append("s", turn("b"));
        assert.deepEqual(
          await queries(store, "s"),
          ["B2", "B3", "a", "b"],
          "B1 left by the window",
        );
        await store.append("s", big("B4"));
        assert.deepEqual(await queries(store, "s"), ["B3", "a", "b", "B4"], "B1's bytes left too");
        await store.truncate("s", 2);
        await store.append("s", big("B5"));
        await store.append("s", big("B6"));
        assert.deepEqual(
          await queries(store, "s"),
          ["B3", "a", "B5", "B6"],
          "the truncated turns' bytes left with them",
        );
        await store.append("s", big("B7"));
        assert.deepEqual(await queries(store, "s"), ["a", "B5", "B6", "B7"]);
        await Promise.all(["C1", "C2", "C3", "C4", "C5"].map((q) => store.append("c", big(q))));
        assert.equal(new Set(await queries(store, "c")).size, 3, "three of them fit");
        await store.append("c", turn("small"));
        const after = await queries(store, "c");
        assert.equal(after.length, 4, `three and the small one fit: ${after}`);
        assert.equal(after[3], "small");
      }, { maxSessionBytes: 64 * 1024 }),
  },
];

/** The {@link SessionStore} contract. */
export const SESSION_STORE_CASES: ContractCase<OpenSessionStore>[] = [
  {
    name: "an unknown session has no history",
    run: (open) =>
      withSessionStore(open, 5, async (store) => {
        assert.deepEqual(await store.load("nobody"), []);
      }),
  },
  {
    name: "turns load back oldest first, per session",
    run: (open) =>
      withSessionStore(open, 10, async (store) => {
        await store.append("s1", turn("one"));
        await store.append("s1", turn("two"));
        await store.append("other", turn("elsewhere"));
        const history = await store.load("s1");
        assert.deepEqual(history.map((t) => t.query), ["one", "two"]);
        assert.equal(history[1].answer, "answer to two");
        assert.equal(history[1].finishReason, "stop");
        assert.deepEqual((await store.load("other")).map((t) => t.query), ["elsewhere"]);
      }),
  },
  {
    name: "history keeps only the configured window of recent turns",
    run: (open) =>
      withSessionStore(open, 3, async (store) => {
        for (const q of ["a", "b", "c", "d", "e"]) await store.append("s", turn(q));
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["c", "d", "e"]);
        await store.append("s", turn("f"));
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["d", "e", "f"]);
      }),
  },
  {
    name: "truncate keeps the first turns; the next append follows them",
    run: (open) =>
      withSessionStore(open, 10, async (store) => {
        for (const q of ["a", "b", "c", "d"]) await store.append("s", turn(q));
        await store.append("other", turn("x"));
        await store.truncate("s", 2);
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["a", "b"]);
        await store.append("s", turn("c2"));
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["a", "b", "c2"]);
        await store.truncate("s", 3);
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["a", "b", "c2"]);
        await store.truncate("s", 0);
        assert.deepEqual(await store.load("s"), []);
        await store.append("s", turn("fresh"));
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["fresh"]);
        assert.deepEqual((await store.load("other")).map((t) => t.query), ["x"]);
        await store.truncate("nobody", 0);
      }),
  },
  {
    name: "truncate counts from the start of the window",
    run: (open) =>
      withSessionStore(open, 3, async (store) => {
        for (const q of ["a", "b", "c", "d", "e"]) await store.append("s", turn(q));
        await store.truncate("s", 1);
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["c"]);
        await store.append("s", turn("f"));
        assert.deepEqual((await store.load("s")).map((t) => t.query), ["c", "f"]);
      }),
  },
  {
    name: "chats are listed per owner, most recent first; renamed; removed with their history",
    run: (open) =>
      withSessionStore(open, 10, async (store) => {
        assert.deepEqual(await store.listChats("alice"), []);
        await store.saveChat("alice", { sessionId: "s1", title: "first", at: 1 });
        await store.saveChat("alice", { sessionId: "s2", title: "second", at: 2 });
        await store.saveChat("bob", { sessionId: "s3", title: "bob's", at: 3 });
        assert.deepEqual((await store.listChats("alice")).map((c) => c.title), ["second", "first"]);
        await store.saveChat("alice", { sessionId: "s1", title: "renamed", at: 4 });
        assert.deepEqual(await store.listChats("alice"), [
          { sessionId: "s1", title: "renamed", at: 4 },
          { sessionId: "s2", title: "second", at: 2 },
        ]);
        await store.append("s1", turn("q1"));
        await store.append("s1", turn("q2"));
        await store.append("s2", turn("kept"));
        assert.equal(await store.removeChat("bob", "s1"), false, "not bob's to delete");
        assert.equal((await store.load("s1")).length, 2);
        assert.equal(await store.removeChat("alice", "s1"), true);
        assert.deepEqual(await store.load("s1"), [], "the history is gone");
        assert.deepEqual((await store.listChats("alice")).map((c) => c.sessionId), ["s2"]);
        assert.deepEqual((await store.load("s2")).map((t) => t.query), ["kept"]);
        assert.equal(await store.removeChat("alice", "s1"), false);
        await store.append("s1", turn("again"));
        assert.deepEqual((await store.load("s1")).map((t) => t.query), ["again"]);
      }),
  },
  {
    name: "a touch marks a chat as used and keeps its title, whatever the title holds",
    run: (open) =>
      withSessionStore(open, 10, async (store) => {
        // A title cut at 80 characters may end in half a surrogate pair; quotes, slashes, non-ASCII.
        const titles = ["plain", 'a "quoted" / slashed \\ title, 日本語 ✓', "cut emoji \ud83d"];
        for (const [i, title] of titles.entries()) {
          await store.saveChat("alice", { sessionId: `s${i}`, title, at: i + 1 });
        }
        // As saved (SQLite's UTF-8 text keeps a lone surrogate as U+FFFD): the touch must keep it.
        const saved = new Map((await store.listChats("alice")).map((c) => [c.sessionId, c.title]));
        assert.equal(saved.get("s1"), titles[1]);
        const before = Date.now();
        for (let i = titles.length - 1; i >= 0; i--) {
          await sleep(2); // a millisecond apart at least: the order is by time of use
          await store.touchChat("alice", `s${i}`);
        }
        const chats = await store.listChats("alice");
        assert.deepEqual(chats.map((c) => c.sessionId), ["s0", "s1", "s2"], "touched last, first");
        assert.deepEqual(chats.map((c) => c.title), ["s0", "s1", "s2"].map((id) => saved.get(id)));
        for (const chat of chats) assert.ok(chat.at >= before, `${chat.sessionId} marked as used`);
        assert.ok(chats.every((c) => Number.isSafeInteger(c.at)), "at stays epoch ms");
      }),
  },
  {
    name: "removing a chat removes its owner mark too; another owner's stays",
    run: (open) =>
      withSessionStore(open, 5, async (store) => {
        assert.ok(store.claim, "the store implements claim()");
        assert.equal(await store.claim("s1", "alice"), true);
        assert.equal(await store.claim("s2", "alice"), true);
        await store.saveChat("alice", { sessionId: "s1", title: "t", at: 1 });
        assert.equal(await store.removeChat("bob", "s1"), false);
        assert.equal(await store.claim("s1", "bob"), false, "not removed: still alice's");
        assert.equal(await store.removeChat("alice", "s1"), true);
        assert.equal(await store.claim("s1", "bob"), true, "nothing of s1 is left");
        assert.equal(await store.claim("s2", "bob"), false);
      }),
  },
  {
    name: "concurrent appends to one session lose nothing",
    run: (open) =>
      withSessionStore(open, 50, async (store) => {
        await Promise.all(Array.from({ length: 8 }, (_, i) => store.append("s", turn(`q${i}`))));
        const queries = (await store.load("s")).map((t) => t.query).sort();
        assert.deepEqual(queries, Array.from({ length: 8 }, (_, i) => `q${i}`));
      }),
  },
  {
    name: "the first claim of a session wins",
    run: (open) =>
      withSessionStore(open, 5, async (store) => {
        assert.ok(store.claim, "the store implements claim()");
        assert.equal(await store.claim("s", "alice"), true);
        assert.equal(await store.claim("s", "bob"), false);
        assert.equal(await store.claim("s", "alice"), true);
        assert.equal(await store.claim("other", "bob"), true);
      }),
  },
  {
    name: "a huge turn is stored and loads back",
    run: (open) =>
      withSessionStore(open, 5, async (store) => {
        await store.append("s", turn("big", "界".repeat(100_000)));
        const [stored] = await store.load("s");
        assert.equal(stored.query, "big");
        assert.ok(stored.answer.length > 1000);
      }),
  },
  {
    name: "a turn naming 5,000 tools is stored (bounded) and loads back",
    run: (open) =>
      withSessionStore(open, 5, async (store) => {
        const tools = Array.from({ length: 5_000 }, (_, i) => `calculator_${i}`);
        await store.append("s", { ...turn("many", "x".repeat(30_000)), tools });
        const [stored] = await store.load("s");
        assert.equal(stored.query, "many");
        assert.ok(stored.tools.length >= 1 && stored.tools.length <= tools.length);
        assert.equal(stored.tools[0], "calculator_0");
      }),
  },
  ...RETENTION_CASES,
];

const withStreamLog = (
  open: () => Promise<WithStreamLog>,
  body: (log: StreamLog) => Promise<void>,
) => withOpened(open, (opened) => body(opened.streamLog));

const EVENTS: LoggedEvent[] = [
  { seq: 0, event: { type: "start", requestId: "r1", sessionId: "s1" } },
  { seq: 1, event: { type: "text-delta", delta: "a" } },
  { seq: 2, event: { type: "text-delta", delta: "b" } },
];

/** The {@link StreamLog} contract. */
export const STREAM_LOG_CASES: ContractCase<() => Promise<WithStreamLog>>[] = [
  {
    name: "append, read after a sequence number, ended",
    run: (open) =>
      withStreamLog(open, async (log) => {
        await log.begin("r1", { sessionId: "s1", query: "q" });
        await log.append("r1", EVENTS.slice(0, 2), false);
        await log.append("r1", EVENTS.slice(2), false);
        assert.deepEqual((await log.read("r1", 0))?.events, EVENTS.slice(1));
        assert.deepEqual((await log.read("r1", -1))?.events, EVENTS);
        assert.equal((await log.read("r1", -1))?.ended, false);
        await log.append("r1", [{ seq: 3, event: { type: "finish", reason: "stop" } }], true);
        const read = await log.read("r1", 2);
        assert.equal(read?.ended, true);
        assert.equal(read?.sessionId, "s1");
        assert.deepEqual(read?.events.map((item) => item.seq), [3]);
      }),
  },
  {
    // The producer tries a failed write again; the first try may have gone
    // through (its reply was lost), so a batch can arrive twice.
    name: "a batch appended again (a retried write) is read once",
    run: (open) =>
      withStreamLog(open, async (log) => {
        await log.begin("r1", { sessionId: "s1", query: "q" });
        await log.append("r1", EVENTS.slice(0, 2), false);
        await log.append("r1", EVENTS.slice(0, 2), false);
        await log.append("r1", EVENTS.slice(2), false);
        const final: LoggedEvent = { seq: 3, event: { type: "finish", reason: "stop" } };
        await log.append("r1", [final], true);
        await log.append("r1", [final], true);
        const read = await log.read("r1", -1);
        assert.deepEqual(read?.events, [...EVENTS, final]);
        assert.equal(read?.next, 4);
        assert.deepEqual((await log.read("r1", 1))?.events, [EVENTS[2], final]);
      }),
  },
  {
    name: "events over one KV value and a backlog of megabytes are all logged, in order",
    run: (open) =>
      withStreamLog(open, async (log) => {
        const big: LoggedEvent = {
          seq: 1,
          event: {
            type: "tool-call",
            toolCallId: "c1",
            toolName: "calc",
            input: "界".repeat(40_000),
          },
        };
        const huge: LoggedEvent = {
          seq: 2,
          event: {
            type: "tool-result",
            toolCallId: "c1",
            toolName: "calc",
            output: "y".repeat(3_000_000),
          },
        };
        const backlog: LoggedEvent[] = Array.from({ length: 3_000 }, (_, i) => ({
          seq: i + 3,
          event: { type: "text-delta", delta: `${i} ${"z".repeat(1_000)}` },
        }));
        const finish: LoggedEvent = { seq: 3_003, event: { type: "finish", reason: "stop" } };
        await log.begin("r1", { sessionId: "s1", query: "q" });
        await log.append("r1", [EVENTS[0], big, huge, ...backlog, finish], true);
        const read = await log.read("r1", -1);
        assert.equal(read?.ended, true);
        assert.deepEqual(
          read?.events.map((item) => item.seq),
          Array.from({ length: 3_004 }, (_, i) => i),
        );
        assert.deepEqual(read?.events[1], big);
        // Larger than a KV commit: logged whole or with its payload cut to a preview.
        assert.equal(read?.events[2].event.type, "tool-result");
        assert.deepEqual(read?.events.slice(3), [...backlog, finish]);
      }),
  },
  {
    name: "an unknown answer reads as undefined and cannot be appended to",
    run: (open) =>
      withStreamLog(open, async (log) => {
        assert.equal(await log.read("nope", -1), undefined);
        await assert.rejects(log.append("nope", EVENTS, false), /Cannot append/);
      }),
  },
  {
    name: "the identity given at begin comes back with every read",
    run: (open) =>
      withStreamLog(open, async (log) => {
        await log.begin("r1", { sessionId: "s1", query: "q", identity: "alice" });
        await log.begin("r2", { sessionId: "s2", query: "q" });
        assert.equal((await log.read("r1", -1))?.identity, "alice");
        assert.equal((await log.read("r2", -1))?.identity, undefined);
      }),
  },
  {
    name: "latest names the last answer begun in a session",
    run: (open) =>
      withStreamLog(open, async (log) => {
        assert.equal(await log.latest("s1"), undefined);
        await log.begin("r1", { sessionId: "s1", query: "q" });
        assert.equal(await log.latest("s1"), "r1");
        await log.begin("r2", { sessionId: "s1", query: "q" });
        await log.begin("r3", { sessionId: "s2", query: "q" });
        assert.equal(await log.latest("s1"), "r2");
        assert.equal(await log.latest("s2"), "r3");
      }),
  },
  {
    name: "forget deletes a session's latest answer and the pointer to it, nothing else",
    run: (open) =>
      withStreamLog(open, async (log) => {
        await log.forget("none");
        await log.begin("r1", { sessionId: "s1", query: "q" });
        await log.renew("r1", 60_000);
        await log.append("r1", [{ seq: 0, event: { type: "text-delta", delta: "a" } }], true);
        await log.requestCancel("r1");
        await log.begin("r2", { sessionId: "s2", query: "q" });
        await log.forget("s1");
        assert.equal(await log.latest("s1"), undefined);
        assert.equal(await log.read("r1", -1), undefined);
        assert.equal(await log.isCancelRequested("r1"), false);
        assert.equal(await log.latest("s2"), "r2");
        assert.notEqual(await log.read("r2", -1), undefined);
      }),
  },
  {
    name: "a cancel request is seen by isCancelRequested, for that answer only",
    run: (open) =>
      withStreamLog(open, async (log) => {
        await log.begin("r1", { sessionId: "s1", query: "q" });
        await log.begin("r2", { sessionId: "s1", query: "q" });
        assert.equal(await log.isCancelRequested("r1"), false);
        await log.requestCancel("r1");
        assert.equal(await log.isCancelRequested("r1"), true);
        assert.equal(await log.isCancelRequested("r2"), false);
      }),
  },
  {
    name: "an answer is alive while its lease holds or once it ended, dead when the lease lapsed",
    run: (open) =>
      withStreamLog(open, async (log) => {
        await log.renew("r1", 150);
        await log.begin("r1", { sessionId: "s1", query: "the question" });
        await log.append("r1", EVENTS, false);
        const live = await log.read("r1", -1);
        assert.equal(live?.alive, true);
        assert.equal(live?.query, "the question");
        assert.equal(live?.next, 3);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal((await log.read("r1", -1))?.alive, false);
        await log.renew("r1", 10_000);
        assert.equal((await log.read("r1", -1))?.alive, true);
        // An ended answer needs no lease.
        await log.begin("r2", { sessionId: "s1", query: "q" });
        await log.append("r2", [{ seq: 0, event: { type: "finish", reason: "stop" } }], true);
        assert.equal((await log.read("r2", -1))?.alive, true);
      }),
  },
  {
    name: "seal ends an answer once; later seals and producer writes change nothing",
    run: (open) =>
      withStreamLog(open, async (log) => {
        await log.begin("r1", { sessionId: "s1", query: "q" });
        await log.append("r1", EVENTS, false);
        const final: LoggedEvent = {
          seq: 3,
          event: { type: "error", code: "interrupted", message: "gone" },
        };
        const results = await Promise.all([log.seal("r1", final), log.seal("r1", final)]);
        assert.deepEqual(results.filter(Boolean).length, 1);
        await log.append("r1", [{ seq: 3, event: { type: "finish", reason: "stop" } }], true);
        const read = await log.read("r1", 2);
        assert.equal(read?.ended, true);
        assert.deepEqual(read?.events, [final]);
        assert.equal(await log.seal("r1", { ...final, seq: 4 }), false);
        // An answer that ended normally cannot be sealed.
        await log.begin("r2", { sessionId: "s1", query: "q" });
        await log.append("r2", [{ seq: 0, event: { type: "finish", reason: "stop" } }], true);
        assert.equal(await log.seal("r2", { ...final, seq: 1 }), false);
      }),
  },
  {
    name: "waits end on an append or a cancel, or at their timeout",
    run: (open) =>
      withStreamLog(open, async (log) => {
        await log.begin("r1", { sessionId: "s1", query: "q" });
        const woken = log.waitForEvents("r1", { next: 0, timeoutMs: 30_000 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await log.append("r1", EVENTS.slice(0, 1), false);
        assert.equal(await woken, true);
        const cancelled = log.waitForCancel("r1", { timeoutMs: 30_000 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await log.requestCancel("r1");
        assert.equal(await cancelled, true);
        await log.begin("r2", { sessionId: "s1", query: "q" });
        assert.equal(await log.waitForCancel("r2", { timeoutMs: 50 }), false);
        assert.equal(await log.waitForEvents("r2", { next: 0, timeoutMs: 50 }), false);
        const aborted = new AbortController();
        const waiting = log.waitForEvents("r2", {
          next: 0,
          timeoutMs: 30_000,
          signal: aborted.signal,
        });
        aborted.abort();
        assert.equal(await waiting, false);
      }),
  },
  {
    // A reader reads, then waits: an append landing in between (here by
    // construction, before the wait starts) must end the wait, not leave it
    // to its timeout. The timeout is long: a lost wake-up shows as false.
    name: "a write made between a read and the next wait ends that wait at once",
    run: (open) =>
      withStreamLog(open, async (log) => {
        await log.begin("r1", { sessionId: "s1", query: "q" });
        const first = await log.read("r1", -1);
        await log.append("r1", EVENTS.slice(0, 2), false);
        const waited = { next: first!.next, timeoutMs: 30_000 };
        assert.equal(await log.waitForEvents("r1", waited), true, "lost wake-up: append");
        const second = await log.read("r1", 1);
        assert.equal(second?.next, 2);
        const final: LoggedEvent = { seq: 2, event: { type: "finish", reason: "stop" } };
        await log.append("r1", [final], true);
        const end = { next: second!.next, timeoutMs: 30_000 };
        assert.equal(await log.waitForEvents("r1", end), true, "lost wake-up: the final batch");
        await log.begin("r2", { sessionId: "s1", query: "q" });
        await log.requestCancel("r2");
        const cancel = await log.waitForCancel("r2", { timeoutMs: 30_000 });
        assert.equal(cancel, true, "lost wake-up: cancel");
        // Nothing written since the read: the wait lasts to its timeout and says so.
        const idle = await log.read("r2", -1);
        assert.equal(await log.waitForEvents("r2", { next: idle!.next, timeoutMs: 50 }), false);
      }),
  },
];

/** Opens an upload store whose uploads live `ttlMs` (a long default when absent). */
export type OpenUploads = (ttlMs?: number) => Promise<WithUploads>;

const withUploads = (
  open: OpenUploads,
  body: (uploads: UploadStore) => Promise<void>,
  ttlMs?: number,
) => withOpened(() => open(ttlMs), (opened) => body(opened.uploads));

/** The {@link UploadStore} contract. */
export const UPLOAD_STORE_CASES: ContractCase<OpenUploads>[] = [
  {
    name: "an upload is gone once its TTL has passed, though stores delete lazily",
    run: (open) =>
      withUploads(open, async (store) => {
        const upload = { uploadId: "u1", name: "a.txt", mime: "text/plain", size: 1, text: "x" };
        await store.save("s1", upload);
        assert.deepEqual(await store.load("s1", "u1"), upload);
        // Past the TTL it must not load: Deno KV returns expired keys until it gets round to
        // deleting them, so the store itself has to tell.
        await sleep(SHORT_TTL_MS + MARGIN_MS);
        assert.equal(await store.load("s1", "u1"), undefined);
      }, SHORT_TTL_MS),
  },
  {
    name: "deleteSession removes every upload of that session only",
    run: (open) =>
      withUploads(open, async (store) => {
        const text = "界".repeat(30_000);
        for (const id of ["a", "b"]) {
          await store.save("s1", {
            uploadId: id,
            name: `${id}.txt`,
            mime: "text/plain",
            size: 9,
            text,
          });
        }
        await store.save("s2", {
          uploadId: "a",
          name: "a.txt",
          mime: "text/plain",
          size: 1,
          text: "x",
        });
        await store.deleteSession("s1");
        assert.equal(await store.load("s1", "a"), undefined);
        assert.equal(await store.load("s1", "b"), undefined);
        assert.equal((await store.load("s2", "a"))?.text, "x");
        await store.deleteSession("never-existed");
      }),
  },
  {
    name: "a text larger than one KV value round-trips, in its session only",
    run: (open) =>
      withUploads(open, async (store) => {
        const text = "界".repeat(50_000);
        const upload: StoredUpload = {
          uploadId: "u1",
          name: "big.txt",
          mime: "text/plain",
          size: 150_000,
          text,
        };
        await store.save("s1", upload);
        const loaded = await store.load("s1", "u1");
        assert.equal(loaded?.text, text);
        assert.deepEqual(loaded, upload);
        assert.equal(await store.load("other-session", "u1"), undefined);
        assert.equal(await store.load("s1", "u2"), undefined);
      }),
  },
  {
    name: "an image upload round-trips with no text",
    run: (open) =>
      withUploads(open, async (store) => {
        const upload = { uploadId: "img", name: "a.png", mime: "image/png", size: 4 };
        await store.save("s1", upload);
        const loaded = await store.load("s1", "img");
        assert.deepEqual(loaded, upload);
        assert.equal(loaded !== undefined && "text" in loaded, false);
      }),
  },
  {
    name: "an empty text upload keeps its empty text",
    run: (open) =>
      withUploads(open, async (store) => {
        const upload = { uploadId: "e", name: "e.txt", mime: "text/plain", size: 0, text: "" };
        await store.save("s1", upload);
        assert.deepEqual(await store.load("s1", "e"), upload);
      }),
  },
];

/** Something holding a quota store (a `Backend` is one), closed after each case. */
export interface WithQuotas {
  quotas: QuotaStore;
  close(): void | Promise<void>;
}

const withQuotas = (
  open: () => Promise<WithQuotas>,
  body: (quotas: QuotaStore) => Promise<void>,
) => withOpened(open, (opened) => body(opened.quotas));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The {@link QuotaStore} contract. */
export const QUOTA_STORE_CASES: ContractCase<() => Promise<WithQuotas>>[] = [
  {
    name: "a bucket grants up to its capacity, then refuses with a retry time, per key",
    run: (open) =>
      withQuotas(open, async (quotas) => {
        const rule = { capacity: 3, refillPerSecond: 0.5 };
        for (let i = 0; i < 3; i++) assert.equal((await quotas.take("k", 1, rule)).ok, true);
        const refused = await quotas.take("k", 1, rule);
        assert.equal(refused.ok, false);
        assert.ok(
          refused.retryAfterMs > 0 && refused.retryAfterMs <= 2_000,
          `${refused.retryAfterMs}`,
        );
        assert.equal((await quotas.take("other", 3, rule)).ok, true);
        assert.equal((await quotas.take("big", 4, rule)).ok, false);
      }),
  },
  {
    name: "a bucket refills at its rate",
    run: (open) =>
      withQuotas(open, async (quotas) => {
        const rule = { capacity: 2, refillPerSecond: 10 };
        assert.equal((await quotas.take("k", 2, rule)).ok, true);
        assert.equal((await quotas.take("k", 1, rule)).ok, false);
        await sleep(250);
        assert.equal((await quotas.take("k", 2, rule)).ok, true);
      }),
  },
  {
    name: "concurrent takes never grant more than the capacity",
    run: (open) =>
      withQuotas(open, async (quotas) => {
        const rule = { capacity: 5, refillPerSecond: 0.001 };
        const results = await Promise.all(
          Array.from({ length: 12 }, () => quotas.take("k", 1, rule)),
        );
        assert.equal(results.filter((r) => r.ok).length, 5);
      }),
  },
  {
    name: "slots: at most the limit held, released ones and lapsed ones come back",
    run: (open) =>
      withQuotas(open, async (quotas) => {
        const options = { limit: 2, ttlMs: 60_000 };
        assert.equal((await quotas.acquire("k", "a", options)).ok, true);
        assert.equal((await quotas.acquire("k", "b", options)).ok, true);
        const refused = await quotas.acquire("k", "c", options);
        assert.equal(refused.ok, false);
        assert.ok(refused.retryAfterMs > 0);
        await quotas.release("k", "a");
        assert.equal((await quotas.acquire("k", "c", options)).ok, true);
        assert.equal((await quotas.acquire("other", "a", options)).ok, true);
        const short = { limit: 1, ttlMs: 200 };
        assert.equal((await quotas.acquire("s", "x", short)).ok, true);
        assert.equal((await quotas.acquire("s", "y", short)).ok, false);
        await sleep(400);
        assert.equal((await quotas.acquire("s", "y", short)).ok, true);
      }),
  },
  {
    name: "concurrent acquires never hold more slots than the limit",
    run: (open) =>
      withQuotas(open, async (quotas) => {
        const options = { limit: 3, ttlMs: 60_000 };
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => quotas.acquire("k", `s${i}`, options)),
        );
        assert.equal(results.filter((r) => r.ok).length, 3);
      }),
  },
  {
    name: "once is true only the first time, of concurrent callers too",
    run: (open) =>
      withQuotas(open, async (quotas) => {
        const results = await Promise.all(
          Array.from({ length: 5 }, () => quotas.once("t", 60_000)),
        );
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal(await quotas.once("t", 60_000), false);
        assert.equal(await quotas.once("other", 60_000), true);
      }),
  },
];

function register<Open>(suite: string, name: string, cases: ContractCase<Open>[], open: Open) {
  for (const contractCase of cases) {
    Deno.test(`${suite} contract (${name}): ${contractCase.name}`, () => contractCase.run(open));
  }
}

/** Registers the {@link SessionStore} contract for one implementation. */
export function sessionStoreContract(name: string, open: OpenSessionStore): void {
  register("session store", name, SESSION_STORE_CASES, open);
}

/** Registers the {@link StreamLog} contract for one implementation. */
export function streamLogContract(name: string, open: () => Promise<WithStreamLog>): void {
  register("stream log", name, STREAM_LOG_CASES, open);
}

/** Registers the {@link UploadStore} contract for one implementation. */
export function uploadStoreContract(name: string, open: OpenUploads): void {
  register("upload store", name, UPLOAD_STORE_CASES, open);
}

/** Registers the {@link QuotaStore} contract for one implementation. */
export function quotaStoreContract(name: string, open: () => Promise<WithQuotas>): void {
  register("quota store", name, QUOTA_STORE_CASES, open);
}
