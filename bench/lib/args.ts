/**
 * The one command-line parser of the bench scripts: `node:util` `parseArgs`
 * (in Deno and Bun alike) with `--name value` options, plus the list and
 * choice parsers the scripts share.
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";

/** Declared options: each a boolean switch or a string value. */
export type ArgSpec = Record<string, "boolean" | "string">;

/** Parsed flags: switches as booleans, values as strings (absent: undefined). */
export type Args<S extends ArgSpec> = {
  [K in keyof S]: S[K] extends "boolean" ? boolean : string | undefined;
};

/**
 * Parses `argv` (default: this process's arguments) against `spec`; an
 * unknown flag or a missing value throws `Cannot parse arguments: ...`.
 */
export function parseFlags<S extends ArgSpec>(
  spec: S,
  argv: string[] = process.argv.slice(2),
): Args<S> {
  const options = Object.fromEntries(
    Object.entries(spec).map(([name, type]) => [name, { type }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new Error(`Cannot parse arguments: ${(err as Error).message}`);
  }
  const out: Record<string, string | boolean | undefined> = {};
  for (const [name, type] of Object.entries(spec)) {
    out[name] = type === "boolean" ? values[name] === true : values[name] as string | undefined;
  }
  return out as Args<S>;
}

/** A comma-separated list (`a,b`), empty items dropped; undefined stays undefined. */
export function parseList(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(",").map((s) => s.trim()).filter(Boolean);
}

/** A comma-separated list of numbers (`100,1000`). */
export function parseNumbers(value: string | undefined): number[] | undefined {
  return parseList(value)?.map(Number);
}

/** `value` if it is one of `choices`, else undefined. */
export function pickChoice<T extends string>(
  value: string | undefined,
  choices: readonly T[],
): T | undefined {
  return choices.find((c) => c === value);
}
