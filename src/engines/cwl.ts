import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isInside } from '../util/path-safety.js';
import type { EngineOutcome, RunContext } from './engine.js';
import { checkInputDepth } from './input-walk.js';
import { parseExact } from '../util/exact-json.js';

export const CWL_VERSIONS = ['v1.0', 'v1.1', 'v1.2'] as const;

/**
 * The locations a CWL runner reads: the `location` and `path` of every File
 * and Directory object in the inputs, however deeply nested (secondaryFiles
 * and a Directory's `listing` included). Other strings are plain values.
 */
export function cwlInputLocations(params: Record<string, unknown>): string[] {
  const locations: string[] = [];
  const visit = (v: unknown, depth: number): void => {
    checkInputDepth(depth);
    if (Array.isArray(v)) return v.forEach((x) => visit(x, depth + 1));
    if (typeof v !== 'object' || v === null) return;
    const obj = v as Record<string, unknown>;
    if (obj.class === 'File' || obj.class === 'Directory') {
      for (const key of ['location', 'path'] as const) {
        const loc = obj[key];
        if (typeof loc === 'string') locations.push(loc);
      }
    }
    for (const x of Object.values(obj)) visit(x, depth + 1);
  };
  visit(params, 0);
  return locations;
}

/**
 * A copy of a run's inputs in which the `location` and `path` of every File
 * and Directory object (those {@link cwlInputLocations} names) go through
 * `relocate`; everything else is kept as it is.
 */
export function relocateCwlInputs(params: Record<string, unknown>, relocate: (location: string) => string): Record<string, unknown> {
  const copy = (v: unknown, depth: number): unknown => {
    checkInputDepth(depth);
    if (Array.isArray(v)) return v.map((x) => copy(x, depth + 1));
    if (typeof v !== 'object' || v === null) return v;
    const obj = v as Record<string, unknown>;
    const fileLike = obj.class === 'File' || obj.class === 'Directory';
    // Own properties only, defined rather than assigned: a "__proto__" key stays a plain key.
    return Object.fromEntries(
      Object.entries(obj).map(([key, x]) => [key, fileLike && (key === 'location' || key === 'path') && typeof x === 'string' ? relocate(x) : copy(x, depth + 1)]),
    );
  };
  return copy(params, 0) as Record<string, unknown>;
}

/**
 * Reads the output object a CWL runner printed on stdout. Every File and
 * Directory it names must lie inside the run's outputs folder; anything else
 * would hand the client a path to somewhere the run does not own.
 */
export async function readCwlOutputs(ctx: RunContext): Promise<EngineOutcome> {
  const text = (await fs.readFile(ctx.stdoutPath, 'utf8')).trim();
  // Runners print the object last; anything before it is noise from tools.
  const start = text.lastIndexOf('\n{') === -1 ? text.indexOf('{') : text.lastIndexOf('\n{') + 1;
  let outputs: unknown;
  try {
    // Numbers kept as the runner wrote them: a client compares them by value, big integers too.
    outputs = parseExact(start === -1 ? text : text.slice(start));
  } catch {
    return { outputs: {}, failure: 'The engine exited 0 but printed no output object.' };
  }
  if (typeof outputs !== 'object' || outputs === null || Array.isArray(outputs)) {
    return { outputs: {}, failure: 'The engine exited 0 but its output is not a JSON object.' };
  }
  const stray = findStrayLocations(outputs, ctx.outputsDir);
  if (stray.length > 0) {
    return { outputs: {}, failure: `The engine reported outputs outside the run's outputs folder: ${stray.slice(0, 3).join(', ')}` };
  }
  return { outputs: outputs as Record<string, unknown> };
}

function findStrayLocations(value: unknown, root: string): string[] {
  const stray: string[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (typeof v !== 'object' || v === null) return;
    const obj = v as Record<string, unknown>;
    if ((obj.class === 'File' || obj.class === 'Directory') && typeof obj.location === 'string' && obj.location.startsWith('file://')) {
      // A file URL naming another host (or otherwise no local path) is no file of the run either.
      const local = localPath(obj.location);
      if (local === null || !isInside(root, local)) stray.push(obj.location);
    }
    Object.values(obj).forEach(visit);
  };
  visit(value);
  return stray;
}

/** The local path a `file://` URL names, or null when it names none (another host, a malformed URL). */
function localPath(url: string): string | null {
  try {
    return fileURLToPath(url);
  } catch {
    return null;
  }
}
