/**
 * The event loop's next turn (`server/io_turn.ts`): tasks run once per
 * call, in order, and a process that used it exits by itself once nothing
 * is on its way, on Deno and on Bun.
 * @module
 */
import { assertEquals } from "@std/assert";
import { nextIoTurn, turnTask } from "../server/io_turn.ts";
import { BUN_BIN, DENO_BIN, runtimeAvailable } from "../bench/lib/runtime.ts";

Deno.test("turnTask runs its task once per call; nextIoTurn resolves in order", async () => {
  let runs = 0;
  const task = turnTask(() => runs++);
  task();
  task();
  const order: number[] = [];
  await Promise.all([1, 2, 3].map((n) => nextIoTurn().then(() => order.push(n))));
  await nextIoTurn();
  assertEquals(runs, 2);
  assertEquals(order, [1, 2, 3]);
});

/** Runs a script that waits for turns, then ends; its exit code (killed after 30 s: -1). */
async function exitCodeOf(argv: string[]): Promise<number> {
  const script = `
    import { nextIoTurn, turnTask } from ${
    JSON.stringify(new URL("../server/io_turn.ts", import.meta.url).href)
  };
    const task = turnTask(() => {});
    task();
    await nextIoTurn();
    task();
    await nextIoTurn();
  `;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, script);
  try {
    const child = new Deno.Command(argv[0], {
      args: [...argv.slice(1), file],
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(30_000),
    }).spawn();
    const status = await child.status;
    return status.signal ? -1 : status.code;
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("a Deno process that waited for turns exits by itself", async () => {
  assertEquals(await exitCodeOf([DENO_BIN, "run", "-A"]), 0);
});

Deno.test({
  name: "a Bun process that waited for turns exits by itself",
  ignore: !runtimeAvailable("bun"),
  fn: async () => {
    assertEquals(await exitCodeOf([BUN_BIN]), 0);
  },
});
