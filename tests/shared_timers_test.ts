/**
 * The shared timers: deadlines of one length lapse in order on one timer,
 * a cancelled one never lapses, `within()` rejects past its bound and
 * settles as its work does before it; ticks reach every member until it leaves.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { delay, within } from "../server/delay.ts";
import { DeadlineQueue, Ticks } from "../server/shared_timers.ts";

Deno.test("deadlines lapse in order; a cancelled one never does", async () => {
  const queue = new DeadlineQueue(30);
  const lapsed: string[] = [];
  const last = Promise.withResolvers<void>();
  queue.add(() => lapsed.push("a"));
  const b = queue.add(() => lapsed.push("b"));
  await delay(5);
  queue.add(() => {
    lapsed.push("c");
    last.resolve();
  });
  b.cancel();
  await last.promise;
  await delay(60);
  assertEquals(lapsed, ["a", "c"]);
});

Deno.test("within() settles as its work does, and rejects once its bound passed first", async () => {
  assertEquals(await within(Promise.resolve(7), 50, "count"), 7);
  await assertRejects(() => within(Promise.reject(new Error("boom")), 50, "count"), Error, "boom");
  const never = new Promise<number>(() => {});
  await assertRejects(
    () => within(never, 40, "reach the store"),
    Error,
    "Cannot reach the store: no answer within 40 ms",
  );
});

Deno.test("ticks reach every member each period until it leaves", async () => {
  const ticks = new Ticks(10);
  let a = 0;
  let b = 0;
  const first = { tick: () => a++ };
  ticks.add(first);
  ticks.add({
    tick() {
      if (++b === 2) ticks.delete(this);
    },
  });
  while (b < 2 || a < 3) await delay(10);
  ticks.delete(first);
  const seen = a;
  await delay(40);
  assertEquals(b, 2);
  assertEquals(a, seen);
});

Deno.test("a callback that throws skips no other: later deadlines lapse, members keep ticking, the error still surfaces", async () => {
  const errors: unknown[] = [];
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    errors.push(event.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    const queue = new DeadlineQueue(10);
    const lapsed: string[] = [];
    queue.add(() => {
      throw new Error("bad deadline");
    });
    queue.add(() => lapsed.push("after"));
    const ticks = new Ticks(10);
    let good = 0;
    const bad = {
      tick() {
        throw new Error("bad member");
      },
    };
    const counter = { tick: () => void good++ };
    ticks.add(bad);
    ticks.add(counter);
    // Up to ~5 s: without the fix the ticks stop for good and this ends with the asserts failing.
    for (let i = 0; i < 1_000 && (good < 3 || lapsed.length === 0); i++) await delay(5);
    ticks.delete(bad);
    ticks.delete(counter);
    assertEquals(good >= 3, true);
    assertEquals(lapsed, ["after"]);
    const messages = errors.map((error) => (error as Error).message);
    assertEquals(messages.includes("bad deadline"), true);
    assertEquals(messages.includes("bad member"), true);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});
