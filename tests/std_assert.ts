/**
 * A local stand-in for `jsr:@std/assert`, built on `node:assert/strict`,
 * because JSR is not reachable from our machines. `deno.json` maps the bare
 * specifier `@std/assert` here; point the mapping at `jsr:@std/assert@^1`
 * where JSR is reachable and no test changes.
 * @module
 */
import assert from "node:assert/strict";

/** An assertion failed. */
export class AssertionError extends Error {
  /** Creates an assertion error with the given message. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function wrap(run: () => void, msg?: string): void {
  try {
    run();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new AssertionError(msg ? `${msg}: ${detail}` : detail);
  }
}

/** Asserts that `expr` is truthy. */
export function assert_(
  expr: unknown,
  msg = "Expected value to be truthy",
): asserts expr {
  if (!expr) throw new AssertionError(msg);
}
export { assert_ as assert };

/** Asserts deep equality. */
export function assertEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  wrap(() => assert.deepStrictEqual(actual, expected), msg);
}

/** Asserts deep inequality. */
export function assertNotEquals(
  actual: unknown,
  expected: unknown,
  msg?: string,
): void {
  wrap(() => assert.notDeepStrictEqual(actual, expected), msg);
}

/** Asserts `Object.is` equality. */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  wrap(() => assert.strictEqual(actual, expected), msg);
}

/** Asserts that a value is neither null nor undefined. */
export function assertExists<T>(
  actual: T,
  msg?: string,
): asserts actual is NonNullable<T> {
  if (actual === null || actual === undefined) {
    throw new AssertionError(msg ?? `Expected value to exist, got ${actual}`);
  }
}

/** Asserts that `actual` contains `expected` as a substring. */
export function assertStringIncludes(
  actual: string,
  expected: string,
  msg?: string,
): void {
  if (!actual.includes(expected)) {
    throw new AssertionError(
      msg ??
        `Expected ${JSON.stringify(actual.slice(0, 500))} to include ${JSON.stringify(expected)}`,
    );
  }
}

/** Asserts that a string matches a pattern. */
export function assertMatch(
  actual: string,
  expected: RegExp,
  msg?: string,
): void {
  wrap(() => assert.match(actual, expected), msg);
}

/** Asserts that a string does not match a pattern. */
export function assertNotMatch(
  actual: string,
  expected: RegExp,
  msg?: string,
): void {
  wrap(() => assert.doesNotMatch(actual, expected), msg);
}

/** Asserts that an array contains all the given values. */
export function assertArrayIncludes<T>(
  actual: ArrayLike<T>,
  expected: ArrayLike<T>,
  msg?: string,
): void {
  const values = Array.from(actual);
  for (const item of Array.from(expected)) {
    if (!values.some((value) => isDeepEqual(value, item))) {
      throw new AssertionError(
        msg ?? `Expected array to include ${JSON.stringify(item)}`,
      );
    }
  }
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** Asserts `actual > expected`. */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual > expected)) {
    throw new AssertionError(msg ?? `Expected ${actual} > ${expected}`);
  }
}

/** Asserts `actual >= expected`. */
export function assertGreaterOrEqual<T>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  if (!(actual >= expected)) {
    throw new AssertionError(msg ?? `Expected ${actual} >= ${expected}`);
  }
}

/** Asserts `actual < expected`. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual < expected)) {
    throw new AssertionError(msg ?? `Expected ${actual} < ${expected}`);
  }
}

/** Asserts `actual <= expected`. */
export function assertLessOrEqual<T>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  if (!(actual <= expected)) {
    throw new AssertionError(msg ?? `Expected ${actual} <= ${expected}`);
  }
}

/** Asserts that `actual` is an instance of `type`. */
export function assertInstanceOf<
  T extends abstract new (...args: never[]) => unknown,
>(
  actual: unknown,
  type: T,
  msg?: string,
): asserts actual is InstanceType<T> {
  if (!(actual instanceof type)) {
    throw new AssertionError(msg ?? `Expected instance of ${type.name}`);
  }
}

/** Asserts that `fn` throws, optionally an instance of `type` whose message includes `msgIncludes`. */
export function assertThrows(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  type?: abstract new (...args: any[]) => Error,
  msgIncludes?: string,
): Error {
  try {
    fn();
  } catch (error) {
    return checkError(error, type, msgIncludes);
  }
  throw new AssertionError("Expected function to throw");
}

/** Asserts that the promise returned by `fn` rejects. */
export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  type?: abstract new (...args: any[]) => Error,
  msgIncludes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, type, msgIncludes);
  }
  throw new AssertionError("Expected promise to reject");
}

function checkError(
  error: unknown,
  // deno-lint-ignore no-explicit-any
  type?: abstract new (...args: any[]) => Error,
  msgIncludes?: string,
): Error {
  if (!(error instanceof Error)) {
    throw new AssertionError("A non-Error object was thrown");
  }
  if (type && !(error instanceof type)) {
    throw new AssertionError(
      `Expected error to be instance of "${type.name}", got "${(error as Error).name}"`,
    );
  }
  if (msgIncludes !== undefined && !error.message.includes(msgIncludes)) {
    throw new AssertionError(
      `Expected error message to include ${JSON.stringify(msgIncludes)}, got ${
        JSON.stringify(error.message)
      }`,
    );
  }
  return error;
}

/** Always fails. */
export function fail(msg?: string): never {
  throw new AssertionError(
    msg ? `Failed assertion: ${msg}` : "Failed assertion",
  );
}

/** Marks code that must not be reached. */
export function unreachable(msg?: string): never {
  throw new AssertionError(msg ?? "Unreachable");
}
