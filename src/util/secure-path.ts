import * as path from 'node:path';

import { MalformedRequestError } from './errors.js';

/** Characters allowed in one path component; everything else is dropped. */
const UNSAFE_CHARS = /[^A-Za-z0-9_.-]/g;

/**
 * Turn an untrusted relative path (an attachment name, an output name…)
 * into a harmless one, the way Toil's `secure_path` does.
 *
 * The path is split on both `/` and `\`, so Windows-style names cannot
 * smuggle in separators. Empty, `.` and `..` components are dropped, then
 * every character outside `[A-Za-z0-9_.-]` is removed from each component;
 * components left empty or made only of dots are dropped too (that is what
 * defeats tricks such as fullwidth dots, `.\u0000.` or `%2e%2e`, which would
 * otherwise collapse into `..`).
 *
 * @returns the cleaned path joined with `/`, or null when nothing is left.
 * @example securePath('../../etc/passwd') // 'etc/passwd'
 */
export function securePath(relative: string): string | null {
  const parts: string[] = [];
  for (const raw of relative.split(/[/\\]/)) {
    if (raw === '' || raw === '.' || raw === '..') continue;
    const cleaned = raw.replace(UNSAFE_CHARS, '');
    // A component of only dots is either `.`/`..` or a name the shell and
    // most tools treat specially; none of them is a legitimate file name here.
    if (cleaned === '' || /^\.+$/.test(cleaned)) continue;
    parts.push(cleaned);
  }
  return parts.length === 0 ? null : parts.join('/');
}

/**
 * Resolve an untrusted relative path to an absolute path strictly inside
 * `root`, after cleaning it with {@link securePath}.
 *
 * The check is lexical: symbolic links already present under `root` are not
 * followed, so callers must not create links from untrusted input.
 *
 * @throws MalformedRequestError when nothing usable is left of `relative`.
 * @throws Error if the result would not be inside `root` (cannot happen after
 *   securePath; kept as a guard so a future change to the cleaning rules
 *   cannot silently open a traversal).
 */
export function resolveInside(root: string, relative: string): string {
  const cleaned = securePath(relative);
  if (cleaned === null) {
    throw new MalformedRequestError(`Path '${printable(relative)}' has no usable components.`);
  }
  const base = path.resolve(root);
  const full = path.resolve(base, cleaned);
  const rel = path.relative(base, full);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new Error(`Path '${printable(relative)}' escapes '${base}'.`);
  }
  return full;
}

/** Keep error messages readable and single-line whatever the input held. */
function printable(s: string): string {
  const short = s.length > 200 ? `${s.slice(0, 200)}…` : s;
  return JSON.stringify(short).slice(1, -1);
}
