import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { type GroupWrite, KvGroupCommit } from "../server/store/kv_group_commit.ts";

/** A write of `value` at `["k", name]`, checked against `versionstamp` (null: key absent). */
function put(name: string, value: string, versionstamp: string | null = null): GroupWrite {
  return {
    guards: name,
    build: (op) => op.check({ key: ["k", name], versionstamp }).set(["k", name], value),
    mutations: 1,
    bytes: value.length,
  };
}

async function withKv(fn: (kv: Deno.Kv) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(kv);
  } finally {
    kv.close();
  }
}

Deno.test("writes made together share a commit; those queued while it is on its way share the next", () =>
  withKv(async (kv) => {
    const group = new KvGroupCommit(kv);
    const together = [group.commit(put("a", "a")), group.commit(put("b", "b"))];
    // One microtask later the first commit has left: these queue behind it.
    await null;
    const behind = [group.commit(put("c", "c")), group.commit(put("d", "d"))];
    const results = await Promise.all([...together, ...behind]);
    assert(results.every((r) => r.ok));
    const stamps = results.map((r) => (r as Deno.KvCommitResult).versionstamp);
    assertEquals(stamps[0], stamps[1]);
    assertEquals(stamps[2], stamps[3]);
    assertNotEquals(stamps[1], stamps[2]);
    for (const n of ["a", "b", "c", "d"]) assertEquals((await kv.get(["k", n])).value, n);
  }));

Deno.test("a failed check fails only its own write, not the others of its group", () =>
  withKv(async (kv) => {
    await kv.set(["k", "taken"], "before");
    const group = new KvGroupCommit(kv);
    const results = await Promise.all([
      group.commit(put("first", "1")),
      group.commit(put("x", "x")),
      group.commit(put("taken", "after")), // its check expects the key absent
      group.commit(put("y", "y")),
    ]);
    assertEquals(results.map((r) => r.ok), [true, true, false, true]);
    assertEquals((await kv.get(["k", "taken"])).value, "before");
    assertEquals((await kv.get(["k", "x"])).value, "x");
    assertEquals((await kv.get(["k", "y"])).value, "y");
  }));

Deno.test("two writes guarding one key never share a commit (the second sees the first)", () =>
  withKv(async (kv) => {
    const group = new KvGroupCommit(kv);
    // Both checked against the key being absent: together, both checks would pass.
    const results = await Promise.all([
      group.commit(put("first", "1")),
      group.commit(put("same", "one")),
      group.commit(put("same", "two")),
    ]);
    assertEquals(results.map((r) => r.ok), [true, true, false]);
    assertEquals((await kv.get(["k", "same"])).value, "one");
  }));

Deno.test("a write KV refuses is rejected alone; the rest of its group lands", () =>
  withKv(async (kv) => {
    const group = new KvGroupCommit(kv);
    const tooLarge: GroupWrite = {
      guards: "big",
      build: (op) => op.set(["k", "big"], "x".repeat(70_000)), // over KV's 64 KiB value limit
      mutations: 1,
      bytes: 70_000,
    };
    const results = await Promise.allSettled([
      group.commit(put("first", "1")),
      group.commit(put("x", "x")),
      group.commit(tooLarge),
    ]);
    assertEquals(results.map((r) => r.status), ["fulfilled", "fulfilled", "rejected"]);
    assertEquals((await kv.get(["k", "x"])).value, "x");
    assertEquals((await kv.get(["k", "big"])).value, null);
  }));

Deno.test("up to 100 writes queued together share one commit on local KV", () =>
  withKv(async (kv) => {
    const group = new KvGroupCommit(kv);
    // The first leaves alone (an idle store commits at once); the next 100 queue behind it.
    const first = group.commit(put("first", "1"));
    await null;
    const names = Array.from({ length: 101 }, (_, i) => `w${i}`);
    const results = await Promise.all([first, ...names.map((n) => group.commit(put(n, n)))]);
    assert(results.every((r) => r.ok));
    const stamps = results.map((r) => (r as Deno.KvCommitResult).versionstamp);
    assertEquals(new Set(stamps.slice(1, 101)).size, 1);
    assertNotEquals(stamps[100], stamps[101]);
    assertNotEquals(stamps[0], stamps[1]);
    for (const n of names) assertEquals((await kv.get(["k", n])).value, n);
  }));

Deno.test("a group refused for its number of checks is committed write by write, and later groups are smaller", () =>
  withKv(async (kv) => {
    const group = new KvGroupCommit(kv);
    // 40 checks each: three together pass KV's 100 checks a commit, and KV refuses the group.
    const wide = (name: string): GroupWrite => ({
      guards: name,
      build(op) {
        for (let i = 0; i < 40; i++) op.check({ key: ["other", name, i], versionstamp: null });
        op.set(["k", name], name);
      },
      mutations: 1,
      bytes: name.length,
    });
    const first = group.commit(put("first", "1"));
    await null;
    const results = await Promise.all([
      first,
      ...["a", "b", "c"].map((n) => group.commit(wide(n))),
    ]);
    assert(results.every((r) => r.ok));
    const stamps = results.map((r) => (r as Deno.KvCommitResult).versionstamp);
    assertEquals(new Set(stamps).size, 4);
    assertEquals(group.maxWrites, 2);
    for (const n of ["a", "b", "c"]) assertEquals((await kv.get(["k", n])).value, n);
    // The next groups take two writes at most: 80 checks, which KV takes.
    const again = group.commit(put("second", "2"));
    await null;
    const later = await Promise.all([again, ...["d", "e"].map((n) => group.commit(wide(n)))]);
    assert(later.every((r) => r.ok));
    assertEquals(
      (later[1] as Deno.KvCommitResult).versionstamp,
      (later[2] as Deno.KvCommitResult).versionstamp,
    );
  }));
