import { MalformedRequestError } from '../util/errors.js';

/**
 * How deep engines follow a run's inputs when they look for file locations:
 * JSON.parse takes far deeper documents than a recursive walk can, and no
 * real input nests this far.
 */
export const MAX_INPUT_DEPTH = 64;

/** Throws the 400 for inputs nested past {@link MAX_INPUT_DEPTH}. */
export function checkInputDepth(depth: number): void {
  if (depth > MAX_INPUT_DEPTH) throw new MalformedRequestError("'workflow_params' is nested too deeply.");
}

/**
 * Every string in a JSON value, in document order, the keys of objects
 * included (a WDL `Map[File, …]` names files by its keys).
 */
export function everyString(value: unknown, depth = 0, out: string[] = []): string[] {
  checkInputDepth(depth);
  if (typeof value === 'string') {
    out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) everyString(v, depth + 1, out);
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      everyString(v, depth + 1, out);
    }
  }
  return out;
}
