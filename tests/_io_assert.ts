/** Small assertion helpers for the I/O tests, built on `node:assert` (no download needed). */
import { deepStrictEqual, ok } from "node:assert/strict";

/** Asserts that `value` is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  ok(value, message);
}

/** Asserts deep strict equality (`-0` and `0` differ, typed array classes must match). */
export function assertEquals(actual: unknown, expected: unknown, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

/** Asserts that `fn` throws an instance of `ErrorClass` whose message includes `text`. */
export function assertThrows(
  fn: () => unknown,
  ErrorClass: abstract new (...args: never[]) => Error,
  text: string,
  label = "",
): void {
  try {
    fn();
  } catch (error) {
    check(error, ErrorClass, text, label);
    return;
  }
  throw new Error(`${label}: expected ${ErrorClass.name} including "${text}", got no error`);
}

/** Asserts that the promise rejects with an instance of `ErrorClass` whose message includes `text`. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  ErrorClass: abstract new (...args: never[]) => Error,
  text: string,
  label = "",
): Promise<void> {
  try {
    await fn();
  } catch (error) {
    check(error, ErrorClass, text, label);
    return;
  }
  throw new Error(`${label}: expected ${ErrorClass.name} including "${text}", got no rejection`);
}

function check(
  error: unknown,
  ErrorClass: abstract new (...args: never[]) => Error,
  text: string,
  label: string,
): void {
  if (!(error instanceof ErrorClass) || error.constructor !== ErrorClass) {
    throw new Error(`${label}: expected ${ErrorClass.name}, got ${error}`);
  }
  if (!error.message.includes(text)) {
    throw new Error(`${label}: expected a message including "${text}", got "${error.message}"`);
  }
  if (error.message.endsWith(".")) {
    throw new Error(`${label}: error messages end without a period, got "${error.message}"`);
  }
}
