/**
 * Which runtimes the runtime-parameterised suites run on. Deno always; Bun
 * when a `bun` executable is on `PATH` (or at `BUN_PATH`), else its legs are
 * ignored with a message saying how to enable them, unless `REQUIRE_BUN=1`
 * (CI), which makes a missing Bun an error.
 * @module
 */

import { BUN, type Runtime } from "../../ops/instance.ts";

/** A runtime a server or script can run under; the Bun executable (`BUN_PATH` or `bun`). */
export { BUN, type Runtime } from "../../ops/instance.ts";

async function bunVersion(): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command(BUN, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The version of Bun found, undefined when there is none. */
export const BUN_VERSION: string | undefined = await bunVersion();

if (BUN_VERSION === undefined && Deno.env.get("REQUIRE_BUN") === "1") {
  throw new Error(`Cannot run the Bun legs: "${BUN}" was not found and REQUIRE_BUN is 1`);
}

/** Every runtime, with whether its legs run here and why not. */
export const RUNTIMES: { runtime: Runtime; ignore: boolean }[] = [
  { runtime: "deno", ignore: false },
  { runtime: "bun", ignore: BUN_VERSION === undefined },
];

let warned = false;

/** Prints, once per test module, that the Bun legs are skipped and how to run them. */
export function warnIfNoBun(): void {
  if (BUN_VERSION !== undefined || warned) return;
  warned = true;
  console.warn(
    `Bun legs ignored: "${BUN}" was not found. ` +
      "Install Bun with: npm install -g bun (or set BUN_PATH)",
  );
}
