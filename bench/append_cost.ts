/**
 * Cost of one history append (what every finished answer pays): times
 * appends to sessions that grow past the turn window, on one backend, and
 * prints median and p95 per phase (window filling, window full: the oldest
 * turn drops). With `--baseline DIR[,DIR]` (checkouts of other commits, e.g.
 * `git worktree add /tmp/base main`) the same appends run on that code's
 * store too, interleaved append by append in one process, so the
 * distributions share the machine's noise. Per-operation timings, A/B
 * interleaved, are why this is not a `Deno.bench` (which runs cases apart).
 *
 * Run: `deno run -A bench/append_cost.ts [--backend kv|kv-file|sqlite|memory]
 * [--baseline DIR[,DIR]] [--sessions 20] [--turns 30] [--window 20] [--answer 2000]`
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import type { SessionStore, Turn } from "../server/store/types.ts";
import { parseFlags, parseList, pickChoice } from "./lib/args.ts";
import { stats } from "./lib/stats.ts";

const turn = (query: string, answer: string): Turn => ({
  query,
  answer,
  finishReason: "stop",
  tools: [],
  at: Date.now(),
});

const BACKENDS = ["kv", "kv-file", "sqlite", "memory"] as const;
type BackendName = typeof BACKENDS[number];

/** Opens a fresh session store of the code rooted at `root` (a repository checkout). */
async function openStore(
  root: string,
  backend: BackendName,
  options: { window: number; dir: string },
): Promise<SessionStore> {
  const store = (name: string) => import(`${root}/server/store/${name}`);
  const { window } = options;
  switch (backend) {
    case "kv":
      return (await store("kv.ts")).KvSessionStore.open(":memory:", { window });
    case "kv-file": {
      const path = `${options.dir}/${crypto.randomUUID()}.kv`;
      return (await store("kv.ts")).KvSessionStore.open(path, { window });
    }
    case "sqlite":
      return new (await store("sqlite.ts")).SqliteSessionStore(new DatabaseSync(":memory:"), {
        window,
      });
    case "memory":
      return new (await store("memory.ts")).MemorySessionStore({ window });
  }
}

const flags = parseFlags({
  backend: "string",
  baseline: "string",
  sessions: "string",
  turns: "string",
  window: "string",
  answer: "string",
});
const backend = pickChoice(flags.backend ?? "kv", BACKENDS);
if (!backend) throw new Error(`Cannot run: unknown backend "${flags.backend}"`);
const sessions = Number(flags.sessions ?? 20);
const turns = Number(flags.turns ?? 30);
const window = Number(flags.window ?? 20);
const answer = "lorem ipsum ".repeat(Math.ceil(Number(flags.answer ?? 2000) / 12));

const dir = await Deno.makeTempDir({ prefix: "append-cost-" });
const roots: Record<string, string> = {
  current: new URL("..", import.meta.url).pathname.replace(/\/$/, ""),
};
for (const dir of parseList(flags.baseline) ?? []) {
  roots[dir.replace(/\/$/, "").split("/").at(-1)!] = dir.replace(/\/$/, "");
}
const variants = await Promise.all(
  Object.entries(roots).map(async ([name, root]) => ({
    name,
    store: await openStore(root, backend, { window, dir }),
    filling: [] as number[],
    full: [] as number[],
  })),
);

try {
  // Warm-up, not timed: JIT, the databases' first pages.
  for (let i = 0; i < 200; i++) {
    for (const variant of variants) await variant.store.append(`warm${i % 10}`, turn("w", answer));
  }
  for (let t = 0; t < turns; t++) {
    for (let s = 0; s < sessions; s++) {
      const next = turn(`q${t}`, answer);
      // Rotate which variant goes first, so none always runs on a warmer cache.
      const shift = (t + s) % variants.length;
      const order = [...variants.slice(shift), ...variants.slice(0, shift)];
      for (const variant of order) {
        const start = performance.now();
        await variant.store.append(`s${s}`, next);
        (t < window ? variant.filling : variant.full).push(performance.now() - start);
      }
    }
  }
  for (const variant of variants) {
    const check = await variant.store.load("s0");
    if (check.length !== Math.min(turns, window)) {
      throw new Error(`Cannot trust the run: "${variant.name}" kept ${check.length} turns`);
    }
  }
  const ms = (value: number) => value.toFixed(3);
  console.log(
    `backend ${backend}, window ${window}, answer ${answer.length} chars (ms per append)`,
  );
  for (const variant of variants) {
    for (const [phase, times] of [["filling", variant.filling], ["full", variant.full]] as const) {
      if (times.length === 0) continue;
      const { n, p50, p95 } = stats(times);
      console.log(
        `${variant.name.padEnd(16)} ${phase.padEnd(8)} n=${n} p50=${ms(p50)} p95=${ms(p95)}`,
      );
    }
    const { n, p50, p95 } = stats([...variant.filling, ...variant.full]);
    console.log(`${variant.name.padEnd(16)} all      n=${n} p50=${ms(p50)} p95=${ms(p95)}`);
  }
} finally {
  for (const variant of variants) variant.store.close();
  await Deno.remove(dir, { recursive: true });
}
