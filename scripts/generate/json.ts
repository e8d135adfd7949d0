/**
 * The JSON value types the generator works on, and its one error type: anything it cannot
 * combine faithfully stops the run with a message instead of producing a subtly wrong API.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** An error in spec/ (or in how it is combined) that the entry point reports without a stack. */
export class GenerateError extends Error {}

/** Stops the generator with a message about the spec. */
export function fail(message: string): never {
  throw new GenerateError(message);
}

/** Whether `value` is a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value` as an object, or a failure naming `what` was expected to be one. */
export function asObject(value: unknown, what: string): JsonObject {
  if (!isObject(value)) fail(`${what}: expected an object`);
  return value;
}
